"""The change source: committed row changes of published tables, read in commit order.

Why triggers and NOTIFY rather than logical decoding: the embedded PostgreSQL has no wal2json and psycopg
cannot speak the replication protocol, while a row trigger (kept on exactly the publication's tables by
``sql/50_realtime.sql``) sees every change a WAL reader would. The trigger stores the row in
``realtime.change_log`` (so rows of any size pass) and notifies ``realtime_changes`` with its transaction
id. PostgreSQL delivers a notification only after its transaction commits, once per transaction and in
commit order, so reading a transaction's rows when its id arrives yields changes in commit order.

Only tables someone watches are captured (``realtime.watched_tables``, see ``watchlist.py``).

Recovery: the listener reconnects with backoff after a database restart or a dropped connection, lists the
watched tables again, then reads everything still in the log (what committed while it was away), so nothing
committed is lost.
Rows leave the log in the statement that reads them (``delete … returning``): a connection lost before its
commit leaves them for the next read, and changes the handler failed on are kept in memory and handed over
first on the next attempt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from supabase_local.pg_listener import Listener

log = structlog.get_logger(__name__)

CHANGES_CHANNEL = "realtime_changes"
DDL_CHANNEL = "realtime_ddl"
MAX_BATCH = 500
BACKOFF_MIN_SECONDS = 0.05
TAKE_ALL = ("delete from realtime.change_log "
            "returning id, schema_name, table_name, op, record, old_record, commit_ts, xid::text")
TAKE_XIDS = ("delete from realtime.change_log where xid = any(%s::text[]::xid8[]) "
             "returning id, schema_name, table_name, op, record, old_record, commit_ts, xid::text")


@dataclass(frozen=True)
class Change:
    """One committed row change of a published table."""

    id: int
    schema: str
    table: str
    op: str
    record: dict[str, Any] | None
    old_record: dict[str, Any] | None
    commit_ts: dt.datetime
    xid: str


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name


BACKLOG = _Marker("backlog")
DDL = _Marker("ddl")
Item = str | _Marker


class ChangeFeed:
    """Listens for committed transactions and hands their changes, in commit order, to ``handle``."""

    def __init__(self, pool: AsyncConnectionPool, listener: Listener,
                 handle: Callable[[list[Change]], Awaitable[None]], on_ddl: Callable[[], None],
                 on_backlog: Callable[[], Awaitable[None]]) -> None:
        self._pool = pool
        self._listener = listener
        self._handle = handle
        self._on_ddl = on_ddl
        self._on_backlog = on_backlog
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._unhandled: list[Change] = []  # taken from the log, not yet handed over (the handler failed)
        self.delivered_count = 0
        listener.subscribe("realtime.changes", [CHANGES_CHANNEL, DDL_CHANNEL], self._on_notify, self._catch_up)

    @property
    def connected(self) -> asyncio.Event:
        """Set while the listener is connected and has caught up."""
        return self._listener.connected

    async def purge(self) -> int:
        """Drop changes left from before this gateway started: nobody is subscribed to them any more."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("delete from realtime.change_log")
            return cur.rowcount

    async def _catch_up(self) -> None:
        """After each (re)connect, list the watched tables again and read everything left in the log."""
        self._queue.put_nowait(BACKLOG)

    def _on_notify(self, note: psycopg.Notify) -> None:
        self._queue.put_nowait(DDL if note.channel == DDL_CHANNEL else note.payload)

    async def process(self) -> None:
        """Read and hand over changes as notifications arrive; never returns."""
        while True:
            items = [await self._queue.get()]
            while len(items) < MAX_BATCH and not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                await self._process(items)
            except (psycopg.Error, PoolTimeout) as error:
                log.warning("realtime.feed_read_failed", error=str(error).strip())
                await self.connected.wait()
                await asyncio.sleep(BACKOFF_MIN_SECONDS)
                self._queue.put_nowait(BACKLOG)

    async def _process(self, items: list[Item]) -> None:
        if BACKLOG in items:
            self._on_ddl()
            await self._on_backlog()
            await self._deliver(await self._take(None))
            return
        pending: list[str] = []
        for item in items:
            if isinstance(item, str):
                pending.append(item)
                continue
            await self._deliver(await self._take(pending))
            pending = []
            self._on_ddl()
        await self._deliver(await self._take(pending))

    async def _take(self, xids: list[str] | None) -> list[Change]:
        """Remove and return the logged changes of ``xids`` in commit order (the order the ids arrived), or all in
        id order. One statement reads and deletes them, so none is sent twice; a connection lost before its
        commit leaves them in the log for the next read."""
        if xids is not None and not xids:
            return []
        async with self._pool.connection() as conn:
            if xids is None:
                cur = await conn.execute(TAKE_ALL)
            else:
                cur = await conn.execute(TAKE_XIDS, [xids])
            changes = [Change(*row) for row in await cur.fetchall()]
        if xids is None:
            changes.sort(key=lambda change: change.id)
        else:
            rank = {xid: position for position, xid in enumerate(xids)}
            changes.sort(key=lambda change: (rank[change.xid], change.id))
        return changes

    async def _deliver(self, changes: list[Change]) -> None:
        """Hand over ``changes`` after any the handler failed on before (it checks visibility in the database)."""
        changes, self._unhandled = [*self._unhandled, *changes], []
        if not changes:
            return
        try:
            await self._handle(changes)
        except BaseException:
            self._unhandled = changes
            raise
        self.delivered_count += len(changes)
