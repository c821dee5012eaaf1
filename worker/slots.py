"""A concurrency bound whose waiters are served highest priority first (oldest first among equals).

``asyncio.Semaphore`` wakes waiters in arrival order; a job system wants the backlog ordered by priority, so a
high-priority delivery that arrives while the worker is busy starts before the low ones already waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SlotHold:
    """One slot taken from ``PrioritySlots``: ``release()`` gives it back once, however often it is called, so a
    job can free its slot as soon as its task is over and the block that took it can still release on the way
    out."""

    def __init__(self, slots: PrioritySlots) -> None:
        self._slots = slots
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()


class PrioritySlots:
    """``size`` slots; ``acquire(priority)`` waits for one, higher priorities first."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self._free = size
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        """Acquirers still waiting for a slot."""
        return sum(1 for _, _, future in self._waiters if not future.done())

    async def acquire(self, priority: float = 0) -> None:
        """Take a slot, waiting behind every waiter of higher priority and older waiters of equal priority."""
        if self._free > 0 and not self.waiting:
            self._free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed over just as the waiter was cancelled
            raise

    def release(self) -> None:
        """Hand the slot to the best waiter, or free it."""
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1

    async def take(self, priority: float = 0) -> SlotHold:
        """A slot (``acquire``) as a ``SlotHold``, for a holder that may hand it on or give it back early."""
        await self.acquire(priority)
        return SlotHold(self)

    @asynccontextmanager
    async def slot(self, priority: float = 0) -> AsyncIterator[SlotHold]:
        """``async with slots.slot(priority) as hold:`` holds one slot for the block, or until ``hold.release()``."""
        hold = await self.take(priority)
        try:
            yield hold
        finally:
            hold.release()
