"""Helpers for Realtime tests: a published table per test and a queue of callback payloads with deadlines."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql
from supabase import AsyncClient, acreate_client

from supabase_local.state import StackState

DEADLINE_SECONDS = 10.0


async def _client(url: str, key: str) -> AsyncIterator[AsyncClient]:
    client = await acreate_client(url, key)
    yield client
    await client.realtime.remove_all_channels()


@pytest.fixture
async def anon(stack: StackState) -> AsyncIterator[AsyncClient]:
    """A supabase AsyncClient with the anon key; its channels are removed after the test."""
    async for client in _client(stack.supabase_url, stack.anon_key):
        yield client


@pytest.fixture
async def service(stack: StackState) -> AsyncIterator[AsyncClient]:
    """A supabase AsyncClient with the service-role key; its channels are removed after the test."""
    async for client in _client(stack.supabase_url, stack.service_role_key):
        yield client


class Inbox:
    """Collects what realtime callbacks receive; ``next`` waits for the next item with a deadline."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def __call__(self, payload: Any) -> None:
        self.queue.put_nowait(payload)

    async def next(self, timeout: float = DEADLINE_SECONDS) -> Any:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def take(self, count: int, timeout: float = DEADLINE_SECONDS) -> list[Any]:
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
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items


def record(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["data"].get("record") or {}


def kind(payload: dict[str, Any]) -> str:
    return str(payload["data"]["type"].value if hasattr(payload["data"]["type"], "value") else payload["data"]["type"])


def create_table(db: psycopg.Connection, columns: str, publish: bool = True) -> str:
    """A fresh table ``rt_<random>`` with ``columns`` (SQL), in the supabase_realtime publication."""
    name = f"rt_{uuid.uuid4().hex[:10]}"
    table = sql.Identifier(name)
    db.execute(sql.SQL("create table {} ({})").format(table, sql.SQL(columns)))
    if publish:
        db.execute(sql.SQL("alter publication supabase_realtime add table {}").format(table))
    return name


def drop_table(db: psycopg.Connection, name: str) -> None:
    db.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(name)))


@contextmanager
def published_table(db: psycopg.Connection, columns: str, publish: bool = True) -> Iterator[str]:
    """A table made by ``create_table`` for the duration of the block."""
    name = create_table(db, columns, publish)
    try:
        yield name
    finally:
        drop_table(db, name)


async def subscribed(channel: Any) -> list[tuple[str, Exception | None]]:
    """Subscribe ``channel`` and return the states its callback saw (the first is the outcome)."""
    states: list[tuple[str, Exception | None]] = []
    await channel.subscribe(lambda state, error: states.append((str(state.value), error)))
    return states
