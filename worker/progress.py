"""Progress from a running task to ``report_job_progress``, coalesced so a chatty task cannot flood Realtime.

A task may report as often as it likes; one sender per job sends the newest value, then waits ``min_interval``
before the next, so the database (and every Realtime subscriber) sees a few updates per second at most, in
order. ``close()`` sends the last value if it has not gone yet: the final state always lands.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from worker.rpc import Rpc

log = structlog.get_logger(__name__)

Progress = tuple[int, str | None]


class ProgressReporter:
    """The newest progress of one job and the background sender that delivers it."""

    def __init__(self, rpc: Rpc, job_id: str, min_interval: float = 0.25) -> None:
        self._rpc = rpc
        self._job_id = job_id
        self._min_interval = min_interval
        self._pending: Progress | None = None
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self.sent = 0

    def report(self, percent: int, message: str | None = None) -> None:
        """Remember the newest value; it replaces one that has not been sent yet."""
        self._pending = (percent, message)
        self._wake.set()
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_loop(), name=f"progress-{self._job_id}")

    async def close(self) -> None:
        """Send what is still pending, then stop the sender."""
        if self._sender is None:
            return
        self._closing.set()
        self._wake.set()
        await self._sender

    async def _send_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending is not None:
                value, self._pending = self._pending, None
                await self._send(value)
            if self._closing.is_set():
                if self._pending is None:
                    return
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._min_interval)

    async def _send(self, value: Progress) -> None:
        percent, message = value
        try:
            await self._rpc("report_job_progress", {"job_id": self._job_id, "progress": percent, "message": message})
            self.sent += 1
        except Exception as err:
            log.warning("job.progress_failed", job_id=self._job_id, progress=percent, error=str(err))
