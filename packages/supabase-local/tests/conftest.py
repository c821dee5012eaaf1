"""Fixtures of the stack's own tests, on the plugin's session stack (the embedded one: these tests reach its
superuser, its processes and its JWT secret)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from supabase_local.platform_fixtures import admin_db, db, stack, stack_dir
from supabase_local.state import StackState
from supabase_local.testing import new_database

__all__ = ["admin_db", "db", "platform_db", "stack", "stack_dir"]

# A throwaway app's tests, run in a project of their own by test_plugin.py, not by this session.
collect_ignore = ["example_project"]


@pytest.fixture(scope="module")
def platform_db(stack: StackState) -> Iterator[psycopg.Connection]:
    """A new database with the platform's shape and nothing of any project's, so platform tests see what the
    stack gives a new project."""
    with new_database(stack) as conninfo, psycopg.connect(conninfo, autocommit=True) as conn:
        yield conn
