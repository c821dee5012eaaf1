"""Session fixtures of the job system's tests, on the ``supabase_local`` plugin's session stack.

The plugin starts one embedded stack on free loopback ports for the whole run (``supabase_stack``); these fixtures
give the job system's view of it: its state, the project's and the platform's connections, and the schema
provisioned. Unit tests (``tests/unit``) use none of them and start nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jobqueue.provision import provision
from jobqueue.settings import Settings, load_settings
from supabase_local.platform_fixtures import admin_db, db, stack, stack_dir
from supabase_local.state import STATE_DIR_ENV, StackState, free_port

__all__ = ["admin_db", "db", "provisioned", "stack", "stack_dir"]


@pytest.fixture(scope="session")
def provisioned(stack: StackState, stack_dir: Path) -> Settings:
    """The session stack provisioned; webhooks go to a loopback port where nothing listens."""
    settings = load_settings({STATE_DIR_ENV: str(stack_dir)}, root=stack_dir)
    settings = replace(settings, worker_url=f"http://127.0.0.1:{free_port()}/hooks/work-queue")
    provision(settings)
    return settings
