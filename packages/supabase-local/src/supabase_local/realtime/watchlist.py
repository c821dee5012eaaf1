"""What the gateway's clients listen to, mirrored into tables that the database's triggers probe, so that work
nobody can receive is skipped: ``realtime.watched_tables`` for postgres_changes, ``realtime.joined_topics`` for
Broadcast from the database.

Hosted Realtime lists its subscriptions in ``realtime.subscription`` and decodes changes only for the tables
there; the capture trigger here likewise captures a change only when its table (or a ``*`` pattern covering it)
is listed, so a table nobody watches costs one index probe per row and no change-log write. A broadcast row is
always written to ``realtime.messages``, as on hosted; the notification that carries it to the gateway (the
stand-in for hosted's WAL reader, and most of a broadcast's cost) is sent only when its topic has a join.

The gateway counts its keys (a binding's ``(schema, table)`` pattern, a join's topic). A join's keys are written
before the join is answered, so what is written after the client saw its subscription confirmed reaches it. A
key whose last holder left is removed in the background; one write at a time, each making the table match the
counts as they are when it runs, so a leave followed by a quick rejoin never leaves a watched key unlisted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable

import psycopg
import structlog
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from supabase_local.realtime.registry import WILDCARD, Binding

log = structlog.get_logger(__name__)

Key = tuple[str, ...]


def pattern(binding: Binding) -> Key:
    """The ``(schema, table)`` a binding watches; ``*`` stands for any."""
    return binding.schema, binding.table or WILDCARD


class Watchlist:
    """Keys counted in the gateway, mirrored into ``realtime.<table>`` (one text column per part of a key)."""

    def __init__(self, pool: AsyncConnectionPool, table: str, columns: tuple[str, ...]) -> None:
        self._pool = pool
        self._counts: Counter[Key] = Counter()
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        target = sql.Identifier("realtime", table)
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        arrays = sql.SQL(", ").join([sql.SQL("%s::text[]")] * len(columns))
        same = sql.SQL(" and ").join(sql.SQL("w.{0} = g.{0}").format(sql.Identifier(c)) for c in columns)
        self._list = sql.SQL("insert into {} ({}) select * from unnest({}) on conflict do nothing").format(
            target, names, arrays)
        self._unlist = sql.SQL("delete from {} w using unnest({}) g({}) where {}").format(target, arrays, names, same)
        self._unlist_all = sql.SQL("delete from {}").format(target)

    async def reset(self) -> None:
        """Make the table list exactly what this gateway's clients hold; the feeds call it whenever their
        listener (re)connects, so rows left by a gateway that died are gone once the first listen succeeds."""
        async with self._lock, self._pool.connection() as conn, conn.transaction():
            await conn.execute(self._unlist_all)
            await self._write(conn, list(self._counts))

    async def watch(self, keys: Iterable[Key]) -> None:
        """Count ``keys`` and list them; returns once listed. When the database cannot be reached the failure is
        logged and ``reset`` lists them after the feed reconnects."""
        keys = list(keys)
        if not keys:
            return
        self._counts.update(keys)
        await self._sync(keys)

    def unwatch(self, keys: Iterable[Key]) -> None:
        """Uncount ``keys``; keys left without a holder leave the list in the background."""
        keys = list(keys)
        if not keys:
            return
        self._counts.subtract(keys)
        task = asyncio.get_running_loop().create_task(self._sync(keys))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _sync(self, keys: list[Key]) -> None:
        try:
            async with self._lock, self._pool.connection() as conn:
                await self._write(conn, keys)
        except (psycopg.Error, PoolTimeout) as error:
            log.warning("realtime.watchlist_not_written", error=str(error).strip())

    async def _write(self, conn: psycopg.AsyncConnection, keys: list[Key]) -> None:
        """List the held ones of ``keys`` and unlist the rest, by the counts at this moment."""
        distinct = list(dict.fromkeys(keys))
        held = [each for each in distinct if self._counts[each] > 0]
        released = [each for each in distinct if self._counts[each] <= 0]
        for each in released:
            del self._counts[each]
        for statement, chosen in ((self._list, held), (self._unlist, released)):
            if chosen:
                await conn.execute(statement, [list(column) for column in zip(*chosen, strict=True)])


def watched_tables(pool: AsyncConnectionPool) -> Watchlist:
    """The tables of the clients' postgres_changes bindings, for the capture trigger."""
    return Watchlist(pool, "watched_tables", ("schema_name", "table_name"))


def joined_topics(pool: AsyncConnectionPool) -> Watchlist:
    """The topics the clients have joined (without ``realtime:``), for the broadcast notification trigger."""
    return Watchlist(pool, "joined_topics", ("topic",))
