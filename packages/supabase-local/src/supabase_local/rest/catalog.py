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
from psycopg_pool import AsyncConnectionPool

from supabase_local.pg_listener import Listener
from supabase_local.rest import schema_cache
from supabase_local.rest.errors import RestError
from supabase_local.rest.schema_cache import SchemaCache

log = structlog.get_logger(__name__)

T = TypeVar("T")
CHANNEL = "pgrst"
RELOAD_PAYLOADS = ("", "reload schema", "reload config")  # the cache holds the roles' settings too
# Errors that may only mean the cache is older than the database.
MISS_CODES = frozenset({"PGRST202", "PGRST204", "PGRST205", "42703"})


class Catalog:
    """The current SchemaCache, reloaded when the shared listener hands it a reload notice or reconnects."""

    def __init__(self, url: str, schemas: tuple[str, ...], pool: AsyncConnectionPool, listener: Listener) -> None:
        self.url = url
        self.pool = pool
        self.schemas = schemas
        self.cache = SchemaCache(schemas=schemas)
        self._listener = listener
        self._lock = asyncio.Lock()
        self._reloading: asyncio.Task[None] | None = None
        self._reload_again = False
        listener.subscribe("rest", [CHANNEL], self._on_notice, self._catch_up)

    @property
    def listening(self) -> bool:
        return self._listener.connected.is_set()

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
        """Load the cache; the listener loads it again each time it (re)connects, for notices it missed."""
        await self.reload()

    async def stop(self) -> None:
        if self._reloading is not None:
            self._reloading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reloading

    async def _catch_up(self) -> None:
        """Reload on every (re)connect: notices sent while the listener was down were missed."""
        await self.reload()

    def _on_notice(self, notice: psycopg.Notify) -> None:
        """Reload in the background on a reload notice; notices during a reload make one more."""
        if notice.payload.strip().lower() not in RELOAD_PAYLOADS:
            return
        if self._reloading is not None and not self._reloading.done():
            self._reload_again = True
            return
        self._reloading = asyncio.create_task(self._reload_until_current(), name="rest.schema_reload")

    async def _reload_until_current(self) -> None:
        while True:
            self._reload_again = False
            try:
                await self.reload()
            except psycopg.Error as err:  # the listener reloads again when it reconnects
                log.warning("rest.schema_reload_failed", error=str(err).strip())
                return
            if not self._reload_again:
                return


def _unless_missing(make: Callable[[SchemaCache], T], cache: SchemaCache) -> tuple[T] | None:
    """``(make(cache),)``, or None when it failed on a name ``cache`` may not know yet."""
    try:
        return (make(cache),)
    except RestError as err:
        if err.code not in MISS_CODES:
            raise
        return None
