"""Which tables anyone subscribes to, kept in ``realtime.watched_tables`` for the capture trigger.

Hosted Realtime lists its subscriptions in ``realtime.subscription`` and decodes changes only for the tables
there; the trigger here likewise captures a change only when its table (or a ``*`` pattern covering it) is
listed, so a table nobody watches costs one index probe per row and no change-log write.

The gateway counts its bindings per ``(schema, table)`` pattern. A join's patterns are written before the join
is answered, so a change made after the client saw its subscription confirmed is captured. A pattern whose last
binding left is removed in the background; one write at a time, each making the table match the counts as
they are when it runs, so a leave followed by a quick rejoin never leaves a watched table unlisted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from supabase_local.realtime.registry import WILDCARD, Binding

log = structlog.get_logger(__name__)

Pattern = tuple[str, str]

LIST = ("insert into realtime.watched_tables (schema_name, table_name) "
        "select * from unnest(%s::text[], %s::text[]) on conflict do nothing")
UNLIST = ("delete from realtime.watched_tables w using unnest(%s::text[], %s::text[]) g(schema_name, table_name) "
          "where w.schema_name = g.schema_name and w.table_name = g.table_name")
UNLIST_ALL = "delete from realtime.watched_tables"


def pattern(binding: Binding) -> Pattern:
    """The ``(schema, table)`` a binding watches; ``*`` stands for any."""
    return binding.schema, binding.table or WILDCARD


class Watchlist:
    """The gateway's bindings counted per pattern, mirrored into ``realtime.watched_tables``."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._counts: Counter[Pattern] = Counter()
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    async def reset(self) -> None:
        """Make the table list exactly what this gateway's clients watch; the change feed calls it whenever its
        listener (re)connects, so rows left by a gateway that died are gone once the first listen succeeds."""
        async with self._lock, self._pool.connection() as conn, conn.transaction():
            await conn.execute(UNLIST_ALL)
            await self._write(conn, list(self._counts))

    async def watch(self, bindings: Iterable[Binding]) -> None:
        """Count ``bindings`` and list their tables; returns once listed. When the database cannot be reached
        the failure is logged and ``reset`` lists them after the feed reconnects."""
        patterns = [pattern(binding) for binding in bindings]
        if not patterns:
            return
        self._counts.update(patterns)
        await self._sync(patterns)

    def unwatch(self, bindings: Iterable[Binding]) -> None:
        """Uncount ``bindings``; tables left without a binding leave the list in the background."""
        patterns = [pattern(binding) for binding in bindings]
        if not patterns:
            return
        self._counts.subtract(patterns)
        task = asyncio.get_running_loop().create_task(self._sync(patterns))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _sync(self, patterns: list[Pattern]) -> None:
        try:
            async with self._lock, self._pool.connection() as conn:
                await self._write(conn, patterns)
        except (psycopg.Error, PoolTimeout) as error:
            log.warning("realtime.watchlist_not_written", error=str(error).strip())

    async def _write(self, conn: psycopg.AsyncConnection, patterns: list[Pattern]) -> None:
        """List the watched ones of ``patterns`` and unlist the rest, by the counts at this moment."""
        distinct = list(dict.fromkeys(patterns))
        watched = [each for each in distinct if self._counts[each] > 0]
        unwatched = [each for each in distinct if self._counts[each] <= 0]
        for each in unwatched:
            del self._counts[each]
        for statement, chosen in ((LIST, watched), (UNLIST, unwatched)):
            if chosen:
                await conn.execute(statement, [[schema for schema, _ in chosen], [table for _, table in chosen]])
