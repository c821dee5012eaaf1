"""What the pytest plugin hands out, usable without pytest too: a stack to test against and small helpers.

A test session runs against one of three targets, chosen by ``SUPABASE_TEST_TARGET`` (or the ``--supabase-target``
option):

- ``embedded`` (the default): a new embedded stack in a temporary directory on free loopback ports, stopped and
  removed when the session ends;
- ``running``: the embedded stack already started in ``$SUPABASE_LOCAL_DIR`` (default ``./.supabase_local``,
  ``python -m supabase_local start``), started if it is not, and left running — the second session's fast path;
- ``env``: a hosted project (or ``supabase start``) named by ``SUPABASE_URL``, ``SUPABASE_ANON_KEY``,
  ``SUPABASE_SERVICE_ROLE_KEY`` and ``SUPABASE_DB_URL``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from supabase_local import lifecycle
from supabase_local.bootstrap import bootstrap
from supabase_local.state import StackState

TARGET_ENV = "SUPABASE_TEST_TARGET"
TARGETS = ("embedded", "running", "env")
HOSTED_VARIABLES = ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_DB_URL")
DEADLINE_SECONDS = 10.0
POLL_SECONDS = 0.02
T = TypeVar("T")


class TargetError(RuntimeError):
    """The chosen test target cannot be used; the message says what is missing."""


@dataclass(frozen=True)
class SupabaseStack:
    """One Supabase project to test against: its API URL, keys and database URL (as ``postgres``).

    ``state`` is the embedded stack's full state (ports, superuser URL, JWT secret) and is None for a hosted
    project: tests of the platform itself need it, tests of an app should not.
    """

    url: str
    anon_key: str
    service_role_key: str
    db_url: str
    target: str
    state: StackState | None = None

    @property
    def embedded(self) -> bool:
        """True when the stack is the embedded one, so its superuser and JWT secret are known."""
        return self.state is not None

    @classmethod
    def of(cls, state: StackState, target: str) -> SupabaseStack:
        """The handle of an embedded stack."""
        return cls(state.supabase_url, state.anon_key, state.service_role_key, state.db_url, target, state)


def chosen_target(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The target named by the option, else ``$SUPABASE_TEST_TARGET``, else ``embedded``."""
    env = os.environ if environ is None else environ
    target = explicit or env.get(TARGET_ENV) or "embedded"
    if target not in TARGETS:
        raise TargetError(f"{TARGET_ENV} must be one of {', '.join(TARGETS)}, got {target!r}")
    return target


@contextmanager
def temporary_stack() -> Iterator[StackState]:
    """A new embedded stack in a temporary directory, stopped and removed afterwards.

    The directory is made by ``tempfile`` rather than under pytest's base temp dir: a nested pytest run resets
    that one to mode 0700, which would lock out PostgreSQL's own OS user when the tests run as root.
    """
    with tempfile.TemporaryDirectory(prefix="supabase-local-") as directory:
        try:
            yield lifecycle.start(directory)
        finally:
            lifecycle.stop(directory)


def hosted_stack(environ: Mapping[str, str] | None = None) -> SupabaseStack:
    """The project named by the environment; every variable it needs is checked first."""
    env = os.environ if environ is None else environ
    missing = [name for name in HOSTED_VARIABLES if not env.get(name)]
    if missing:
        raise TargetError(f"{TARGET_ENV}=env needs {', '.join(missing)} in the environment")
    return SupabaseStack(env["SUPABASE_URL"].rstrip("/"), env["SUPABASE_ANON_KEY"], env["SUPABASE_SERVICE_ROLE_KEY"],
                         env["SUPABASE_DB_URL"], "env")


@contextmanager
def as_role(conn: psycopg.Connection, role: str,
            claims: Mapping[str, Any] | None = None) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
    """A cursor running as ``role`` (with these JWT ``claims``, as the gateway sets them) in a transaction that is
    rolled back afterwards: what RLS and grants let that caller see, without leaving anything behind."""
    with conn.transaction(force_rollback=True), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        if claims is not None:
            cur.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(dict(claims))])
        yield cur


@contextmanager
def new_database(state: StackState, with_platform: bool = True) -> Iterator[str]:
    """A new database made by ``postgres`` (shaped like a new Supabase project unless ``with_platform`` is False);
    yields the project's URL for it and drops it afterwards."""
    name = f"probe_{secrets.token_hex(6)}"
    with psycopg.connect(state.db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        if with_platform:
            bootstrap(state, psycopg.conninfo.make_conninfo(state.admin_url, dbname=name))
        yield psycopg.conninfo.make_conninfo(state.db_url, dbname=name)
    finally:
        with psycopg.connect(state.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


class Inbox:
    """Collects what Realtime callbacks receive; ``next`` waits for the next item with a deadline."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def __call__(self, payload: Any) -> None:
        self.queue.put_nowait(payload)

    async def next(self, timeout: float = DEADLINE_SECONDS) -> Any:
        """The next payload, or ``TimeoutError`` after ``timeout`` seconds."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def take(self, count: int, timeout: float = DEADLINE_SECONDS) -> list[Any]:
        """The next ``count`` payloads, each within ``timeout``."""
        return [await self.next(timeout) for _ in range(count)]

    async def until(self, predicate: Callable[[Any], bool], timeout: float = DEADLINE_SECONDS) -> list[Any]:
        """Everything received up to and including the first item that satisfies ``predicate``."""
        seen = []
        while True:
            item = await self.next(timeout)
            seen.append(item)
            if predicate(item):
                return seen

    def drained(self) -> list[Any]:
        """What has arrived and was not taken yet."""
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items


def record(payload: dict[str, Any]) -> dict[str, Any]:
    """The new row of a ``postgres_changes`` payload (``{}`` for a delete)."""
    return payload["data"].get("record") or {}


async def subscribed(channel: Any) -> list[tuple[str, Exception | None]]:
    """Subscribe ``channel`` and return the states its callback saw (the first is the outcome)."""
    states: list[tuple[str, Exception | None]] = []
    await channel.subscribe(lambda state, error: states.append((str(state.value), error)))
    return states


def call(conn: psycopg.Connection, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run a statement as the connection's user and return its rows as dicts (none for a statement without)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query.encode(), params)
        return cur.fetchall() if cur.description else []


def eventually(probe: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """Call ``probe`` until it returns something truthy and return that; fail after ``timeout`` seconds.

    Tests wait on a condition with a deadline instead of sleeping a fixed time.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s (last: {result!r})")
        time.sleep(POLL_SECONDS)
