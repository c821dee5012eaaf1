"""Session fixtures: one real local stack (PostgreSQL, PGMQ, gateway) on free loopback ports for the whole run."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from jobqueue.provision import provision
from jobqueue.settings import Settings, load_settings
from supabase_local.auth.ratelimit import ENV as AUTH_RATE_LIMITS
from supabase_local.bootstrap import bootstrap
from supabase_local.state import STATE_DIR_ENV, StackState, free_port, load_state

# Every test reaches the session's stack from one loopback address: GoTrue's per-address limits on anonymous
# sign-ins and /token calls (30 an hour, 150 per 5 minutes) would throttle the suite rather than test anything.
# Sign-ups keep GoTrue's limit, which tests/test_auth_rate_limit.py checks from addresses of its own.
for _kind in ("anonymous", "token"):
    os.environ.setdefault(AUTH_RATE_LIMITS[_kind], "100000")


def run_cli(state_dir: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run ``python -m supabase_local --dir state_dir ARGS`` and capture its output."""
    return subprocess.run([sys.executable, "-m", "supabase_local", "--dir", str(state_dir), *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


@contextmanager
def running_stack() -> Iterator[Path]:
    """Start a stack in a new temporary directory; stop it and remove the directory afterwards.

    The directory lives outside pytest's base temp dir on purpose: a nested pytest run (nbval) resets that
    dir to mode 0700, which would lock out the PostgreSQL server's own OS user when the stack runs as root.
    """
    with tempfile.TemporaryDirectory(prefix="test_queue-stack-") as tmp:
        directory = Path(tmp)
        started = run_cli(directory, "start")
        assert started.returncode == 0, started.stderr
        try:
            yield directory
        finally:
            run_cli(directory, "stop")


@pytest.fixture(scope="session")
def stack_dir() -> Iterator[Path]:
    """The state directory of the session's stack, started once and stopped at the end."""
    with running_stack() as directory:
        yield directory


@pytest.fixture(scope="session")
def stack(stack_dir: Path) -> StackState:
    state = load_state(stack_dir)
    assert state is not None
    return state


@pytest.fixture
def db(stack: StackState) -> Iterator[psycopg.Connection]:
    """The project's connection, as ``postgres`` (not a superuser, as on hosted Supabase), in autocommit mode."""
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def admin_db(stack: StackState) -> Iterator[psycopg.Connection]:
    """The platform's own superuser, ``supabase_admin``: only for tests of the platform itself."""
    with psycopg.connect(stack.admin_url, autocommit=True) as conn:
        yield conn


@contextmanager
def new_database(stack: StackState, with_platform: bool = True) -> Iterator[str]:
    """A new database made by ``postgres`` (shaped like a new Supabase project unless ``with_platform`` is
    False); yields the project's URL for it and drops it afterwards."""
    name = f"probe_{secrets.token_hex(6)}"
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        if with_platform:
            bootstrap(stack, psycopg.conninfo.make_conninfo(stack.admin_url, dbname=name))
        yield psycopg.conninfo.make_conninfo(stack.db_url, dbname=name)
    finally:
        with psycopg.connect(stack.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def platform_db(stack: StackState) -> Iterator[psycopg.Connection]:
    """The project's connection to a new database with the platform's shape and nothing of the project's.

    Platform tests use it so they see what the stack gives a new project, not what ``sql/`` (applied to the
    session database by ``provisioned``) has revoked since.
    """
    with new_database(stack) as conninfo, psycopg.connect(conninfo, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def provisioned(stack: StackState, stack_dir: Path) -> Settings:
    """The session stack with ``sql/`` applied; webhooks go to a loopback port where nothing listens."""
    settings = load_settings({STATE_DIR_ENV: str(stack_dir)}, root=stack_dir)
    settings = replace(settings, worker_url=f"http://127.0.0.1:{free_port()}/hooks/work-queue")
    provision(settings)
    return settings
