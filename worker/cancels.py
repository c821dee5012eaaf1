"""An operator's cancel reaching a running task: the tasks running now, and one poll that asks which were cancelled.

The database records a cancel (``cancel_job`` sets ``cancelled_at``); the worker learns of it by asking
``job_cancel_requests`` about all of its running jobs in one call every ``poll_seconds``, and only while some run.
Stopping a task is cancelling its asyncio task, so the task needs no cancel support of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog

from worker.rpc import Rpc
from worker.tasks import TaskResult

log = structlog.get_logger(__name__)


@dataclass
class Execution:
    """A task running now, and whether the operator asked it to stop."""

    task: asyncio.Task[TaskResult]
    cancel_requested: bool = False


class CancelWatch:
    """The running tasks by job id, and the loop that stops those the operator cancelled."""

    def __init__(self, rpc: Rpc, poll_seconds: float) -> None:
        self._rpc = rpc
        self._poll_seconds = poll_seconds
        self._running: dict[str, Execution] = {}

    def __len__(self) -> int:
        return len(self._running)

    def track(self, job_id: str, task: asyncio.Task[TaskResult]) -> Execution:
        """Watch ``task``, the running task of ``job_id``, until ``forget``."""
        execution = self._running[job_id] = Execution(task)
        return execution

    def forget(self, job_id: str) -> None:
        """The task of ``job_id`` is over."""
        self._running.pop(job_id, None)

    def request(self, job_id: str) -> bool:
        """Stop the task of ``job_id`` because the operator cancelled its job; False when it does not run here."""
        execution = self._running.get(job_id)
        if execution is None or execution.cancel_requested:
            return False
        execution.cancel_requested = True
        execution.task.cancel()
        log.info("job.cancel_requested", job_id=job_id)
        return True

    async def poll(self) -> None:
        """Ask once which running jobs were cancelled, and stop them; a failed poll is logged and tried next time."""
        if not self._running:
            return
        try:
            cancelled = await self._rpc("job_cancel_requests", {"job_ids": list(self._running)})
        except Exception as err:
            log.warning("job.cancel_poll_failed", error=str(err))
            return
        for job_id in cancelled or []:
            self.request(str(job_id))

    async def watch(self, stop: asyncio.Event) -> None:
        """``poll`` every ``poll_seconds`` until ``stop`` is set."""
        while not stop.is_set():
            await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._poll_seconds)
