"""Realtime's resync, tried: cut the live table's websocket as a network drop would, submit a job meanwhile, and
show the channel rejoining and the REST re-read that brings back what was missed."""

from __future__ import annotations

import asyncio
import time

from jobqueue.feed import FeedState
from jobqueue.job import Job
from jobqueue.widgets.dashboard import Dashboard, JobSpec

REJOIN_SECONDS = 60.0


def cut_connection(dashboard: Dashboard) -> None:
    """Abort the dashboard's Realtime websocket without a close handshake: what a dropped network does."""
    connection = getattr(dashboard.client.realtime, "_ws_connection", None)
    if connection is None:
        raise RuntimeError("the dashboard's Realtime client is not connected")
    connection.transport.abort()


async def resync_after_reconnect(dashboard: Dashboard, spec: JobSpec, timeout: float) -> tuple[Job, list[str]]:
    """Cut the socket, submit ``spec`` at once, wait for the channel to be SUBSCRIBED again and the job to end;
    the job and notes on what the channel went through and what the re-read after the rejoin merged."""
    began = time.monotonic()
    seen: list[tuple[float, str]] = []
    rejoined = asyncio.Event()

    def note(state: FeedState) -> None:
        seen.append((time.monotonic() - began, state.state))
        if len(seen) > 1 and state.live:  # the first call is the state before the cut
            rejoined.set()

    stop_noting = dashboard.feed.on_state(note)
    rereads = len(dashboard.feed.rereads)
    try:
        cut_connection(dashboard)
        [job] = await dashboard.submit([spec])
        await asyncio.wait_for(rejoined.wait(), REJOIN_SECONDS)
        await dashboard.feed.reread_done()
        [done] = await dashboard.wait([job], f"{spec.name} after the reconnect", timeout)
    finally:
        stop_noting()
    path = " → ".join(f"{state} ({at:.2f} s)" for at, state in seen)
    merged = dashboard.feed.rereads[rereads:]
    return done, [f"channel: {path}",
                  f"REST re-reads after the rejoin: {len(merged)}, rows read {sum(r for r, _ in merged)}, "
                  f"rows they changed {sum(c for _, c in merged)}",
                  f"{done.task_name}, submitted while the socket was down: {done.status}"]
