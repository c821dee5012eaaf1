"""Helpers for Realtime tests: a published table per test and a queue of callback payloads with deadlines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql
from supabase import AsyncClient

from supabase_local.testing import DEADLINE_SECONDS, Inbox, record, subscribed

__all__ = ["DEADLINE_SECONDS", "Inbox", "anon", "create_table", "drop_table", "kind", "published_table", "record",
           "service", "subscribed"]


@pytest.fixture
def anon(asupabase_anon: AsyncClient) -> AsyncClient:
    """The plugin's async anon client (its channels are removed after the test)."""
    return asupabase_anon


@pytest.fixture
def service(asupabase_service: AsyncClient) -> AsyncClient:
    """The plugin's async service-role client."""
    return asupabase_service


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
