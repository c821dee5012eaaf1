"""A LISTEN connection that outlives database restarts, for services woken by NOTIFY instead of polling.

The owner is woken on every notification and on every (re)connect, because notifications sent while the
connection was down are lost: a wake on reconnect lets the owner catch up on what it missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import structlog
from psycopg import sql

log = structlog.get_logger(__name__)

FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0


class ChannelListener:
    """Listens on one channel and calls ``on_wake`` for each notification and after each (re)connect."""

    def __init__(self, db_url: str, channel: str, on_wake: Callable[[], None], owner: str) -> None:
        self._db_url = db_url
        self._channel = channel
        self._on_wake = on_wake
        self._owner = owner
        self.connected = asyncio.Event()
        self.problem: str | None = "not connected yet"

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with a growing backoff while the database is unreachable."""
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._db_url, autocommit=True) as conn:
                    await conn.execute(sql.SQL("listen {}").format(sql.Identifier(self._channel)))
                    self.problem = None
                    self.connected.set()
                    backoff = FIRST_BACKOFF_SECONDS
                    log.info("listener.connected", owner=self._owner, channel=self._channel)
                    self._on_wake()
                    async for _ in conn.notifies():
                        self._on_wake()
                self.problem = "the listening connection closed"
            except psycopg.Error as err:
                self.problem = f"database unreachable: {err}".strip()
            self.connected.clear()
            log.warning("listener.disconnected", owner=self._owner, reason=self.problem, retry_in=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
