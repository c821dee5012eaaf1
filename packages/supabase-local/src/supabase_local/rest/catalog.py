"""Keeps the schema cache current: loaded at start, reloaded on ``NOTIFY pgrst, 'reload schema'`` (sent by
the DDL event trigger or by a user, as on PostgREST) or ``'reload config'`` (after a role's settings change),
and checked against the DDL counter when a request names something the cache lacks, so a table created a
moment ago is found without waiting for the notice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

import psycopg
import structlog
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from supabase_local.rest import schema_cache
from supabase_local.rest.errors import RestError
from supabase_local.rest.schema_cache import SchemaCache

log = structlog.get_logger(__name__)

T = TypeVar("T")
CHANNEL = "pgrst"
RELOAD_PAYLOADS = ("", "reload schema", "reload config")  # the cache holds the roles' settings too
# Errors that may only mean the cache is older than the database.
MISS_CODES = frozenset({"PGRST202", "PGRST204", "PGRST205", "42703"})
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0)


class Catalog:
    """The current SchemaCache and the listener that refreshes it."""

    def __init__(self, url: str, schemas: tuple[str, ...], pool: AsyncConnectionPool) -> None:
        self.url = url
        self.pool = pool
        self.schemas = schemas
        self.cache = SchemaCache(schemas=schemas)
        self.listening = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def reload(self) -> None:
        """Load a fresh cache over its own short connection and swap it in."""
        async with self._lock, await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            self.cache = await schema_cache.load(conn, self.schemas)

    async def refresh_if_stale(self) -> bool:
        """Reload when the DDL count moved since the cache was loaded; True when it reloaded."""
        async with self.pool.connection() as conn:
            version = await schema_cache.current_version(conn)
        if version is None or version == self.cache.version:
            return False
        await self.reload()
        return True

    async def with_cache(self, make: Callable[[SchemaCache], T]) -> T:
        """``make(cache)``, tried again when it failed on a name the cache may not know yet: first on the cache the
        listener swapped in meanwhile, if any (no query), then, since that one too may predate the DDL that made
        the name, on one loaded now if the DDL count moved."""
        tried = self.cache
        if (made := _unless_missing(make, tried)) is not None:
            return made[0]
        if self.cache is not tried:
            tried = self.cache
            if (made := _unless_missing(make, tried)) is not None:
                return made[0]
        await self.refresh_if_stale()
        return make(self.cache)

    async def start(self) -> None:
        """Load the cache and start listening; returns once both are done."""
        self._task = asyncio.create_task(self._listen(), name="rest.schema_listener")
        waiter = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiter.cancel()
            self._task.result()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        """LISTEN on ``pgrst``; reconnect (and reload, since notices may have been missed) after a loss."""
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(sql.SQL("listen {}").format(sql.Identifier(CHANNEL)))
                    await self.reload()
                    self.listening = True
                    self._ready.set()
                    failures = 0
                    async for notice in conn.notifies():
                        if notice.payload.strip().lower() in RELOAD_PAYLOADS:
                            await self.reload()
            except psycopg.OperationalError as err:
                self.listening = False
                if not self._ready.is_set() and failures >= len(RECONNECT_DELAYS):
                    raise
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                log.warning("rest.listener.reconnecting", error=str(err), retry_in_s=delay)
                await asyncio.sleep(delay)


def _unless_missing(make: Callable[[SchemaCache], T], cache: SchemaCache) -> tuple[T] | None:
    """``(make(cache),)``, or None when it failed on a name ``cache`` may not know yet."""
    try:
        return (make(cache),)
    except RestError as err:
        if err.code not in MISS_CODES:
            raise
        return None
