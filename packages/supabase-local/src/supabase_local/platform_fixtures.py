"""Fixtures for tests that look under the platform: the embedded stack's state and its two database roles.

Not registered by the plugin (an app's tests should not need a superuser, which hosted Supabase never gives);
a ``conftest.py`` that needs them imports them by name::

    from supabase_local.platform_fixtures import admin_db, db, stack, stack_dir  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from supabase_local.state import StackState
from supabase_local.testing import SupabaseStack


@pytest.fixture(scope="session")
def stack(supabase_stack: SupabaseStack) -> StackState:
    """The embedded stack's full state; skips where the session runs against a hosted project."""
    if supabase_stack.state is None:
        pytest.skip("this test needs the embedded stack (SUPABASE_TEST_TARGET=embedded or running)")
    return supabase_stack.state


@pytest.fixture(scope="session")
def stack_dir(stack: StackState) -> Path:
    """The state directory of the session's stack."""
    return Path(stack.root)


@pytest.fixture
def db(stack: StackState) -> Iterator[psycopg.Connection]:
    """The project's connection, as ``postgres`` (not a superuser, as on hosted Supabase), in autocommit mode."""
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def admin_db(stack: StackState) -> Iterator[psycopg.Connection]:
    """The platform's own superuser, ``supabase_admin``."""
    with psycopg.connect(stack.admin_url, autocommit=True) as conn:
        yield conn
