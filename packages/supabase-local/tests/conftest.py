"""Fixtures of the stack's own tests, on the plugin's session stack (the embedded one: these tests reach its
superuser, its processes and its JWT secret)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from supabase_local.auth.ratelimit import ENV as AUTH_RATE_LIMITS
from supabase_local.platform_fixtures import admin_db, db, stack, stack_dir
from supabase_local.state import StackState
from supabase_local.testing import new_database

__all__ = ["admin_db", "db", "platform_db", "stack", "stack_dir"]

# Every test reaches the session's stack from one loopback address: GoTrue's per-address limits on anonymous
# sign-ins and /token calls (30 an hour, 150 per 5 minutes) would throttle the suite rather than test anything.
# Sign-ups keep GoTrue's limit, which test_auth_rate_limit.py checks from addresses of its own.
for _kind in ("anonymous", "token"):
    os.environ.setdefault(AUTH_RATE_LIMITS[_kind], "100000")

# A throwaway app's tests, run in a project of their own by test_plugin.py, not by this session.
collect_ignore = ["example_project"]


@pytest.fixture(scope="module")
def platform_db(stack: StackState) -> Iterator[psycopg.Connection]:
    """A new database with the platform's shape and nothing of any project's, so platform tests see what the
    stack gives a new project."""
    with new_database(stack) as conninfo, psycopg.connect(conninfo, autocommit=True) as conn:
        yield conn
