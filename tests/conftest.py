"""Session fixtures of the job system's tests, on the ``supabase_local`` plugin's session stack.

The plugin starts one embedded stack on free loopback ports for the whole run (``supabase_stack``); these fixtures
give the job system's view of it: its state, the project's and the platform's connections, and the schema
provisioned. Unit tests (``tests/unit``) use none of them and start nothing.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from jobqueue.provision import provision
from jobqueue.settings import Settings, load_settings
from supabase_local.auth.ratelimit import ENV as AUTH_RATE_LIMITS
from supabase_local.platform_fixtures import admin_db, db, stack, stack_dir
from supabase_local.state import STATE_DIR_ENV, StackState, free_port

__all__ = ["admin_db", "db", "provisioned", "stack", "stack_dir"]

# Jobs belong to signed-in users, so the tests sign many anonymous users in, all from one loopback address:
# GoTrue's per-address limits (30 anonymous sign-ins an hour, 150 /token calls per 5 minutes) would throttle the
# suite rather than test anything. Set before the session's stack starts, which reads them.
for _kind in ("anonymous", "token"):
    os.environ.setdefault(AUTH_RATE_LIMITS[_kind], "100000")


@pytest.fixture(scope="session")
def provisioned(stack: StackState, stack_dir: Path) -> Settings:
    """The session stack provisioned; webhooks go to a loopback port where nothing listens."""
    settings = load_settings({STATE_DIR_ENV: str(stack_dir)}, root=stack_dir)
    settings = replace(settings, worker_url=f"http://127.0.0.1:{free_port()}/hooks/work-queue")
    provision(settings)
    return settings
