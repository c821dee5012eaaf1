"""A pool check that costs a round trip only for a connection that sat idle.

``AsyncConnectionPool.check_connection`` sends an empty query before every checkout. Under load the services
check out a connection hundreds of times a second, each just after it came back, so nearly all those round trips
prove what the last statement proved a moment ago. A connection returned less than ``IDLE_SECONDS`` ago skips the
round trip; one lost in that moment fails its next statement instead, and the pool discards it on return (the
callers already retry on ``psycopg.Error``).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

IDLE_SECONDS = 1.0


class CheckWhenIdle:
    """The ``check`` and ``reset`` callbacks of one pool: ``AsyncConnectionPool(..., **checker.pool_callbacks)``."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle_seconds = idle_seconds
        self._returned: weakref.WeakKeyDictionary[AsyncConnection, float] = weakref.WeakKeyDictionary()

    @property
    def pool_callbacks(self) -> dict[str, Callable[[AsyncConnection], Awaitable[None]]]:
        return {"check": self.check, "reset": self.returned}

    async def check(self, conn: AsyncConnection) -> None:
        """Probe the connection unless it came back to the pool a moment ago in good order."""
        returned = self._returned.pop(conn, None)
        if returned is None or time.monotonic() - returned >= self._idle_seconds or conn.broken:
            await AsyncConnectionPool.check_connection(conn)

    async def returned(self, conn: AsyncConnection) -> None:
        self._returned[conn] = time.monotonic()
