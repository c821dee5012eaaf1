"""A connection's bounded queue of outgoing frames, so one slow client never holds up the others.

Two kinds of producers fill it. Replies, broadcasts and presence diffs ``put``: that never waits, and a
queue already at its limit marks the connection for dropping (``overflowed``). The change feed ``offer``s:
it takes frames only while the queue is below its *feed limit* (the limit minus a small reserve) and
otherwise refuses, so the feed can wait for the writer to drain instead of dropping a client that merely
got a large batch (see ``fanout``). The reserve keeps room for the replies of a client whose queue the
feed keeps topped up, so its heartbeats never overflow it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

from supabase_local.realtime.protocol import Frame, Serializer

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = 10_000
RESERVE_DIVISOR = 10  # a tenth of the queue stays free for replies while the feed waits on a connection


class Outbox:
    """Frames waiting to be written to one websocket, in order."""

    def __init__(self, serializer: Serializer, limit: int = DEFAULT_LIMIT) -> None:
        self.serializer = serializer
        self.limit = limit
        self.feed_limit = max(1, limit - limit // RESERVE_DIVISOR)
        self._frames: deque[Frame] = deque()
        self._ready = asyncio.Event()
        self.overflowed = asyncio.Event()
        self.closed = False
        self.room: asyncio.Event | None = None  # set by the writer when the feed may offer again

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: Frame) -> None:
        """Queue ``frame``; when the queue is full, mark the connection for dropping instead of waiting."""
        if self.closed or self.overflowed.is_set():
            return
        if len(self._frames) >= self.limit:
            self.overflow(frame.topic)
            return
        self._push(frame)

    def offer(self, frame: Frame) -> bool:
        """Queue ``frame`` if the queue is below its feed limit; False means full: wait for ``room`` or drop.
        A closed or dropped connection takes (and discards) everything, so nobody waits for it."""
        if self.closed or self.overflowed.is_set():
            return True
        if len(self._frames) >= self.feed_limit:
            return False
        self._push(frame)
        return True

    def overflow(self, topic: str) -> None:
        """Give up on this connection (it reads too slowly): the endpoint closes it with 1013."""
        log.warning("realtime.client_overflow", queued=len(self._frames), topic=topic)
        self.overflowed.set()
        self._wake()

    def close(self) -> None:
        """The connection ended: forget queued frames and release a feed waiting for room here."""
        self.closed = True
        self._frames.clear()
        self._wake()

    def _push(self, frame: Frame) -> None:
        self._frames.append(frame)
        self._ready.set()

    def _wake(self) -> None:
        if self.room is not None:
            self.room.set()

    async def run(self, send: Callable[[str | bytes], Awaitable[None]]) -> None:
        """Write queued frames with ``send`` until cancelled."""
        while True:
            while not self._frames:
                self._ready.clear()
                await self._ready.wait()
            frame = self._frames.popleft()
            if len(self._frames) < self.feed_limit:
                self._wake()
            await send(self.serializer.encode(frame))
