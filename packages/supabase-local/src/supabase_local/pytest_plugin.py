"""The pytest plugin (entry point ``pytest11``): a Supabase project per test session, without Docker.

Fixtures:

- ``supabase_stack`` (session): the target chosen by ``--supabase-target`` / ``$SUPABASE_TEST_TARGET`` (see
  ``supabase_local.testing``), with the project's ``supabase/migrations/*.sql`` and ``supabase/seed.sql`` (found
  under pytest's rootdir) applied as ``supabase start`` applies them;
- ``supabase_anon``, ``supabase_service`` (session): sync ``supabase`` clients with the anon and service-role keys;
- ``asupabase_anon``, ``asupabase_service`` (per test): async clients, their Realtime channels removed afterwards;
- ``supabase_user``, ``asupabase_user`` (per test): a sync and an async client signed in as a new anonymous user
  (role ``authenticated``, ``is_anonymous`` true), signed out afterwards;
- ``supabase_db`` (per test): a connection as ``postgres`` inside a transaction rolled back after the test, the
  isolation for tests of SQL, RLS and functions (``supabase_local.testing.as_role`` runs a block as an API role).
  REST and Realtime calls commit through the gateway, so tests of those use their own rows (a unique tag).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from supabase import AsyncClient, Client, acreate_client, create_client

from supabase_local import lifecycle
from supabase_local.auth.ratelimit import ENV as AUTH_RATE_LIMITS
from supabase_local.migrations import apply_project
from supabase_local.testing import TARGETS, SupabaseStack, chosen_target, hosted_stack, temporary_stack


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--supabase-target``: which Supabase the session tests against."""
    parser.addoption("--supabase-target", choices=TARGETS, default=None,
                     help="embedded (a new stack per session, default), running (reuse ./.supabase_local) or env "
                          "(SUPABASE_URL and friends)")


# Every test reaches an embedded stack from 127.0.0.1: GoTrue's per-address limits on anonymous sign-ins and token
# refreshes (30 an hour, 150 per 5 minutes) would throttle a test suite rather than test anything. Sign-ups keep
# GoTrue's limit. Set the variables yourself to choose other limits.
RELAXED_AUTH_LIMITS = {AUTH_RATE_LIMITS["anonymous"]: "100000", AUTH_RATE_LIMITS["token"]: "100000"}


def _open(target: str, resources: ExitStack, root: Path) -> SupabaseStack:
    if target == "env":
        return hosted_stack()
    for name, value in RELAXED_AUTH_LIMITS.items():
        os.environ.setdefault(name, value)
    if target == "running":
        stack = SupabaseStack.of(lifecycle.start(), target)
    else:
        stack = SupabaseStack.of(resources.enter_context(temporary_stack()), target)
    apply_project(stack.db_url, root)
    return stack


@pytest.fixture(scope="session")
def supabase_stack(request: pytest.FixtureRequest) -> Iterator[SupabaseStack]:
    """The session's Supabase, migrated and seeded from the rootdir's ``supabase/`` folder."""
    target = chosen_target(request.config.getoption("--supabase-target"))
    with ExitStack() as resources:
        yield _open(target, resources, Path(request.config.rootpath))


@pytest.fixture(scope="session")
def supabase_anon(supabase_stack: SupabaseStack) -> Client:
    """A sync client with the anon key, as a visitor's browser would hold it."""
    return create_client(supabase_stack.url, supabase_stack.anon_key)


@pytest.fixture(scope="session")
def supabase_service(supabase_stack: SupabaseStack) -> Client:
    """A sync client with the service-role key (bypasses RLS), as a trusted server would hold it."""
    return create_client(supabase_stack.url, supabase_stack.service_role_key)


async def _async_client(url: str, key: str) -> AsyncIterator[AsyncClient]:
    client = await acreate_client(url, key)
    try:
        yield client
    finally:
        await client.realtime.remove_all_channels()


@pytest_asyncio.fixture
async def asupabase_anon(supabase_stack: SupabaseStack) -> AsyncIterator[AsyncClient]:
    """An async client with the anon key (Realtime lives only in the async client)."""
    async for client in _async_client(supabase_stack.url, supabase_stack.anon_key):
        yield client


@pytest_asyncio.fixture
async def asupabase_service(supabase_stack: SupabaseStack) -> AsyncIterator[AsyncClient]:
    """An async client with the service-role key."""
    async for client in _async_client(supabase_stack.url, supabase_stack.service_role_key):
        yield client


@pytest.fixture
def supabase_user(supabase_stack: SupabaseStack) -> Iterator[Client]:
    """A sync client signed in as a new anonymous user: what a visitor of an app with anonymous sign-ins holds."""
    client = create_client(supabase_stack.url, supabase_stack.anon_key)
    client.auth.sign_in_anonymously()
    try:
        yield client
    finally:
        client.auth.sign_out()


@pytest_asyncio.fixture
async def asupabase_user(supabase_stack: SupabaseStack) -> AsyncIterator[AsyncClient]:
    """An async client signed in as a new anonymous user; its channels are removed and it signs out afterwards."""
    async for client in _async_client(supabase_stack.url, supabase_stack.anon_key):
        await client.auth.sign_in_anonymously()
        try:
            yield client
        finally:
            await client.auth.sign_out()


@pytest.fixture
def supabase_db(supabase_stack: SupabaseStack) -> Iterator[psycopg.Connection]:
    """A connection as ``postgres`` in a transaction that is rolled back when the test ends."""
    with psycopg.connect(supabase_stack.db_url) as conn:
        try:
            yield conn
        finally:
            conn.rollback()
