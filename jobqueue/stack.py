"""Make sure there is a Supabase to talk to: the configured project, or else the embedded local stack."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import psutil
import structlog

from jobqueue.settings import Settings, configured, embedded_stack_dir, load_settings
from supabase_local import lifecycle

log = structlog.get_logger(__name__)


def ensure_stack(environ: Mapping[str, str] | None = None, root: Path | None = None) -> Settings:
    """Start (or reuse) the embedded stack unless a hosted project is configured, then return the settings."""
    directory = embedded_stack_dir(configured(environ, root), root)
    if directory is not None:
        state = lifecycle.start(str(directory))
        log.info("stack.ready", url=state.supabase_url, directory=str(directory))
    return load_settings(environ, root)


def platform_processes(settings: Settings) -> list[psutil.Process]:
    """The embedded stack's services process and postmaster, for measuring their CPU; nothing on hosted Supabase."""
    if settings.local_stack_dir is None:
        return []
    state = lifecycle.status(str(settings.local_stack_dir)).state
    if state is None or state.services_pid is None:
        return []
    postmaster = int((state.pgdata / "postmaster.pid").read_text().split()[0])
    return [psutil.Process(state.services_pid), psutil.Process(postmaster)]
