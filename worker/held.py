"""The jobs one worker process holds, each as one asyncio task from admission until its outcome is written.

A job held here is held once: a second delivery of it is a duplicate, until the task holding it lets go (when
it ends, or earlier, when its failure is being reported and the retry may arrive before the report returns).
On shutdown the held tasks get a grace period to finish; the rest are cancelled and their leases run out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class HeldJobs:
    """Job id → the task holding its current delivery, and every such task."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._by_job: dict[str, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def holds(self, job_id: str) -> bool:
        """True while a task here holds a delivery of ``job_id``."""
        return job_id in self._by_job

    def spawn(self, job_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background as the holder of ``job_id``."""
        task = asyncio.create_task(work, name=f"job-{job_id}")
        self._tasks.add(task)
        self._by_job[job_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self.let_go(job_id, done)

        task.add_done_callback(forget)

    def let_go(self, job_id: str, task: asyncio.Task[Any] | None) -> None:
        """Stop treating deliveries of ``job_id`` as duplicates of the one ``task`` holds."""
        if task is not None and self._by_job.get(job_id) is task:
            del self._by_job[job_id]

    async def wait_idle(self) -> None:
        """Return once nothing is held (new jobs may be spawned again at any time)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def drain(self, grace_seconds: float) -> int:
        """Let the held tasks finish within ``grace_seconds``, then cancel the rest; how many were cancelled."""
        pending = set(self._tasks)
        if pending:
            log.info("runner.draining", in_flight=len(pending), grace_seconds=grace_seconds)
            _, pending = await asyncio.wait(pending, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)
