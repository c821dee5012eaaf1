"""One attempt at a claimed job, from its claim to its written outcome: the lease is kept and the outcome written.

``async with reporter.open(job, source, received_at) as attempt:`` extends the job's lease every third of its
term until the block ends, and the outcome is written inside the block: the lease outlives the task until the
database has recorded how it ended. A worker killed at any moment before that loses nothing: its lease runs
out and the message is delivered again. Completions go out in the shared batch (``mark_jobs``); cancellations
and failures, rarer, in calls of their own. The run log records each attempt and its ``Outcome``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable
from types import TracebackType
from typing import Any

import structlog

from worker.backoff import retry_delay
from worker.batcher import RpcBatcher
from worker.claim import ClaimedJob
from worker.config import WorkerConfig
from worker.execute import Cancelled, Ended, Failed
from worker.outcomes import Outcome
from worker.rpc import Rpc
from worker.runs import Run, RunLog

log = structlog.get_logger(__name__)


async def keep_lease(rpc: Rpc, job_id: str, lease_seconds: int) -> None:
    """Extend the lease of ``job_id`` every third of its term until cancelled; a failed extension is retried."""
    interval = lease_seconds / 3
    while True:
        await asyncio.sleep(interval)
        try:
            kept = await rpc("extend_job_lease", {"job_id": job_id, "lease_seconds": lease_seconds})
        except Exception as err:
            log.warning("job.lease_extend_failed", job_id=job_id, error=str(err))
            continue
        log.info("job.lease_extended" if kept else "job.lease_lost", job_id=job_id, lease_seconds=lease_seconds)


class Reporter:
    """Opens attempts and writes their outcomes, for one runner."""

    def __init__(self, config: WorkerConfig, rpc: Rpc, flush: RpcBatcher, runs: RunLog, rng: random.Random) -> None:
        self.config = config
        self.rpc = rpc
        self.flush = flush
        self.runs = runs
        self.rng = rng

    def open(self, job: ClaimedJob, source: str, received_at: str) -> Attempt:
        """Record that an attempt at ``job`` begins (``source``: webhook or pull)."""
        run = self.runs.start(job.job_id, job.task_name, job.msg_id, job.attempt, source, received_at, job.job_type)
        log.info("job.processing", job_id=job.job_id, job_type=job.job_type, task_name=job.task_name,
                 attempt=job.attempt, source=source)
        return Attempt(self, run)


class Attempt:
    """A claimed job's lease, kept for the ``async with`` block, and the writing of its outcome."""

    __slots__ = ("_keeper", "_reporter", "run")

    def __init__(self, reporter: Reporter, run: Run) -> None:
        self._reporter = reporter
        self.run = run
        self._keeper: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Attempt:
        self._keeper = asyncio.create_task(keep_lease(self._reporter.rpc, self.run.job_id,
                                                      self._reporter.config.lease_seconds))
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper

    def released(self) -> None:
        """The worker stopped the task on shutdown without an outcome: the lease will expire."""
        self._reporter.runs.finish(self.run, Outcome.RELEASED)
        log.warning("job.released", job_id=self.run.job_id, attempt=self.run.attempt,
                    reason="shutdown; the lease will expire")

    async def write(self, ended: Ended) -> Outcome:
        """Write how the task ended; the outcome the database recorded (``error`` when the report failed)."""
        if isinstance(ended, Failed):
            return await self._failed(ended)
        run = self.run
        if isinstance(ended, Cancelled):
            outcome = await self._written("mark_job_cancelled",
                                          self._reporter.rpc("mark_job_cancelled", {"job_id": run.job_id}))
        else:
            outcome = await self._written("mark_job_completed", self._reporter.flush.call(
                "completions", {"job_id": run.job_id, "result": ended.summary, "output": ended.output}))
        if outcome is not Outcome.ERROR:
            log.info(f"job.{outcome}", job_id=run.job_id, attempt=run.attempt, duration=run.duration_seconds)
        return outcome

    async def _written(self, rpc_name: str, sent: Awaitable[Any], error: str | None = None) -> Outcome:
        """Await a report; record the outcome its row says, or ``error`` when the report failed."""
        run = self.run
        try:
            answer = await sent
        except Exception as err:
            self._reporter.runs.finish(run, Outcome.ERROR, f"{rpc_name}: {err}")
            log.error("job.report_failed", job_id=run.job_id, rpc=rpc_name, error=str(err))
            return Outcome.ERROR
        row = (answer[0] if answer else None) if isinstance(answer, list) else answer
        outcome = Outcome.reported(row)
        self._reporter.runs.finish(run, outcome, error)
        return outcome

    async def _failed(self, failure: Failed) -> Outcome:
        """``mark_job_failed``: retry after a back-off while attempts remain, else (or when permanent) dead-letter."""
        reporter, run = self._reporter, self.run
        config = reporter.config
        delay = retry_delay(run.attempt, config.retry_base_seconds, config.retry_max_seconds, reporter.rng)
        outcome = await self._written("mark_job_failed", reporter.rpc("mark_job_failed", {
            "job_id": run.job_id, "error": failure.error, "retry_in_seconds": delay,
            "max_attempts": config.max_attempts, "permanent": failure.permanent}), failure.error)
        if outcome is Outcome.FAILED:
            log.warning("job.dead_lettered", job_id=run.job_id, attempt=run.attempt, error=failure.error)
        elif outcome is not Outcome.ERROR:
            log.info("job.retrying", job_id=run.job_id, attempt=run.attempt, retry_in_seconds=delay,
                     error=failure.error, outcome=outcome.value)
        return outcome
