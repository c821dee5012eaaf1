"""A connection's bounded queue of outgoing frames, so one slow client never holds up the others.

Producers (the change feed, broadcasts from other clients) only ``put``: it never waits. When a client
falls so far behind that its queue is full, the connection is dropped (``overflowed`` is set) instead of
letting memory grow or the server block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from supabase_local.realtime.protocol import Frame, Serializer

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = 10_000


class Outbox:
    """Frames waiting to be written to one websocket, in order."""

    def __init__(self, serializer: Serializer, limit: int = DEFAULT_LIMIT) -> None:
        self.serializer = serializer
        self._queue: asyncio.Queue[Frame] = asyncio.Queue(maxsize=limit)
        self.overflowed = asyncio.Event()

    def put(self, frame: Frame) -> None:
        """Queue ``frame``; when the queue is full, mark the connection for dropping instead of waiting."""
        if self.overflowed.is_set():
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("realtime.client_overflow", queued=self._queue.qsize(), topic=frame.topic)
            self.overflowed.set()

    async def run(self, send: Callable[[str | bytes], Awaitable[None]]) -> None:
        """Write queued frames with ``send`` until cancelled."""
        while True:
            frame = await self._queue.get()
            await send(self.serializer.encode(frame))
