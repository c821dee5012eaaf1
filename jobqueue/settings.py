"""Where the project's settings come from: the process environment, then ``.env``, then the local stack.

The embedded stack is used when no ``SUPABASE_URL`` is configured, or when ``SUPABASE_URL`` is that stack's
own gateway URL (as after ``eval $(python -m supabase_local status -o env)``); its values are read from the
state it saved on ``start``, and the webhook secret is derived from its JWT secret so that the database and
the worker agree on it without anyone copying it around. A hosted project's database cannot reach this
machine's loopback, so there a loopback ``WORKER_URL`` is refused instead of stored; a hosted project without
``WORKER_URL`` is pull-only (no webhooks: ``python -m worker --pull`` claims the jobs).

The rules, defaults and variable names shared with the worker live in ``worker.settings``; this module adds the
project's connection settings and where the values come from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field

from supabase_local.state import STATE_DIR_ENV, load_state
from worker.settings import (
    SECRET_PREFIX,
    HttpUrl,
    Regex,
    Required,
    SettingsError,
    SharedSettings,
    WebhookSecret,
    decode_secret,
    from_values,
    hook_url,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKER_URL = hook_url()
_WEBHOOK_KEY_LABEL = b"test_queue webhook"
webhook_key = decode_secret  # the HMAC key inside WEBHOOK_SECRET, by the rule the worker checks


class ProjectSettings(SharedSettings):
    """The shared model plus what the notebooks need to reach the project; field names are ``Settings``'s."""

    anon_key: Required = Field(validation_alias="SUPABASE_ANON_KEY")
    db_url: Required = Field(validation_alias="SUPABASE_DB_URL")
    webhook_secret: WebhookSecret = Field(validation_alias="WEBHOOK_SECRET")
    worker_url: HttpUrl | None = Field(None, validation_alias="WORKER_URL")
    job_fail_pattern: Regex | None = Field(None, validation_alias="JOB_FAIL_PATTERN")


def _default(name: str) -> Any:
    """A default as the model declares it: defaults are written once, there."""
    return ProjectSettings.model_fields[name].default


@dataclass(frozen=True)
class Settings:
    """Everything the notebooks, provisioning and the jobs API need to reach one Supabase project.

    The values ``ProjectSettings`` checked, kept as a frozen dataclass so that code and tests derive variants
    with ``dataclasses.replace``. ``worker_url`` None means pull-only.
    """

    supabase_url: str
    anon_key: str
    service_role_key: str
    db_url: str
    webhook_secret: str
    worker_url: str | None = DEFAULT_WORKER_URL
    job_min_seconds: float = _default("job_min_seconds")
    job_max_seconds: float = _default("job_max_seconds")
    max_attempts: int = _default("max_attempts")
    job_fail_pattern: str | None = None
    local_stack_dir: Path | None = None

    @property
    def embedded(self) -> bool:
        """True when these settings point at the embedded local stack."""
        return self.local_stack_dir is not None

    @property
    def delivery(self) -> Literal["webhook", "pull"]:
        """How jobs reach a worker: the database POSTs each to ``worker_url``, or workers pull them."""
        return "webhook" if self.worker_url else "pull"


def derive_webhook_secret(jwt_secret: str) -> str:
    """The embedded stack's Standard Webhooks secret, derived from its JWT secret so every part agrees."""
    key = hmac.new(jwt_secret.encode(), _WEBHOOK_KEY_LABEL, hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(key).decode()


def configured(environ: Mapping[str, str] | None = None, root: Path | None = None) -> dict[str, str]:
    """The variables set in the environment or in ``.env`` (the environment wins); nothing from the stack."""
    env_file = (root or PROJECT_ROOT) / ".env"
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if env_file.exists() else {}
    return {**from_file, **(os.environ if environ is None else environ)}


def local_stack_dir(values: Mapping[str, str], root: Path | None = None) -> Path:
    """The embedded stack's state directory: ``$SUPABASE_LOCAL_DIR`` or ``.supabase_local`` in the project."""
    chosen = values.get(STATE_DIR_ENV)
    return Path(chosen).expanduser().resolve() if chosen else (root or PROJECT_ROOT) / ".supabase_local"


def _stack_values(directory: Path) -> dict[str, str]:
    state = load_state(directory)
    if state is None:
        return {}
    return {**state.env(), "WEBHOOK_SECRET": derive_webhook_secret(state.jwt_secret)}


def embedded_stack_dir(values: Mapping[str, str], root: Path | None = None) -> Path | None:
    """The embedded stack's directory when the settings point at it (no ``SUPABASE_URL``, or that stack's
    own URL), else None: a hosted project."""
    directory = local_stack_dir(values, root)
    url = values.get("SUPABASE_URL")
    if not url:
        return directory
    state = load_state(directory)
    return directory if state is not None and url.rstrip("/") == state.supabase_url else None


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _worker_url(values: Mapping[str, str], embedded: bool) -> str:
    """``WORKER_URL``, the local worker's hook on the embedded stack when unset, or "" (pull-only)."""
    url = values.get("WORKER_URL", "").strip() or (DEFAULT_WORKER_URL if embedded else "")
    if url and not embedded and _is_loopback(url):
        raise SettingsError(f"WORKER_URL is {url}, a loopback address that the hosted project's database cannot "
                            "reach: set WORKER_URL to a public or tunnelled URL of the worker's /hooks/work-queue, "
                            "or leave it unset to run pull workers (see README, 'On a hosted Supabase project')")
    return url


def load_settings(environ: Mapping[str, str] | None = None, root: Path | None = None) -> Settings:
    """Resolve the settings (environment, ``.env``, running local stack) or say plainly what is missing."""
    values = configured(environ, root)
    stack_dir = embedded_stack_dir(values, root)
    if stack_dir is not None:
        values = {**_stack_values(stack_dir), **values}
    where = (f"start the embedded stack (python -m supabase_local start, state in {stack_dir})"
             if stack_dir else "set them in the environment or in .env")
    values = {**values, "WORKER_URL": _worker_url(values, embedded=stack_dir is not None)}
    project = from_values(ProjectSettings, values, where)
    return Settings(**project.model_dump(), local_stack_dir=stack_dir)
