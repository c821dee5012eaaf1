"""Hand one batch of change frames to many connections so a slow client is dropped, not waited on forever.

Why this design: a single transaction may produce more frames than a connection's queue holds, so queueing
a whole batch at once would drop fast, healthy clients too. Instead the feed pumps each connection's frames
in turn while its outbox has room; when every connection still owed frames is full, it waits until any
writer frees room. A connection that frees no room for ``stall_seconds`` (it stopped reading), or still
owes frames ``batch_seconds`` after the batch first had to wait, is dropped (1013) and the rest carry on.
So a batch never holds the feed longer than ``batch_seconds`` of waiting, each connection gets its frames
in order, and one that stays open misses none. Waiting on connections one after another would be simpler
but lets each slow client add its own stall to everybody's delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

from supabase_local.realtime.outbox import Outbox
from supabase_local.realtime.protocol import Frame

STALL_SECONDS = 2.0
BATCH_SECONDS = 10.0


@dataclass(frozen=True)
class Patience:
    """How long the feed waits for full connections: per connection without progress, and per batch."""

    stall_seconds: float = STALL_SECONDS
    batch_seconds: float = BATCH_SECONDS


@dataclass
class _Debt:
    frames: deque[Frame]
    since: float  # when the connection last took a frame (or the batch began)


def _pump(outbox: Outbox, frames: deque[Frame]) -> bool:
    """Offer ``frames`` in order until the outbox is full; True when it took at least one."""
    took = False
    while frames and outbox.offer(frames[0]):
        frames.popleft()
        took = True
    return took


async def fan_out(owed: dict[Outbox, list[Frame]], patience: Patience) -> None:
    """Deliver each outbox its frames, in order, or drop it when it cannot take them in time."""
    loop = asyncio.get_running_loop()
    room = asyncio.Event()
    start = loop.time()
    pending = {outbox: _Debt(deque(frames), start) for outbox, frames in owed.items() if frames}
    for outbox in pending:
        outbox.room = room
    give_up: float | None = None
    try:
        while True:
            room.clear()
            now = loop.time()
            for outbox, debt in list(pending.items()):
                if _pump(outbox, debt.frames):
                    debt.since = now
                if not debt.frames:
                    del pending[outbox]
            if not pending:
                return
            give_up = now + patience.batch_seconds if give_up is None else give_up
            for outbox, debt in list(pending.items()):
                if now >= min(debt.since + patience.stall_seconds, give_up):
                    outbox.overflow(debt.frames[0].topic)
                    del pending[outbox]
            if not pending:
                return
            wake_at = min(min(debt.since for debt in pending.values()) + patience.stall_seconds, give_up)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(wake_at):
                    await room.wait()
    finally:
        for outbox in owed:
            outbox.room = None
