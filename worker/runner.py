"""Runs deliveries in the background: claim the lease, do the task, report the outcome, all under a bound.

Delivery is at least once; the database makes the effect exactly once (``mark_job_processing`` refuses a
second claim, ``mark_job_completed`` is terminal). The runner adds what only a process can: a concurrency
bound, lease extension while a task runs, retry delays with jitter, and a drain on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from worker.backoff import retry_delay
from worker.config import WorkerConfig
from worker.runs import Run, RunLog, now_iso
from worker.task import run_task

log = structlog.get_logger(__name__)

Rpc = Callable[[str, dict[str, Any]], Awaitable[Any]]


class RpcClient(Protocol):
    """An RPC caller that holds connections: ``await rpc(name, args)``, then ``await rpc.close()``."""

    async def __call__(self, name: str, args: dict[str, Any]) -> Any: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Delivery:
    """A validated webhook body: which message announces which job."""

    msg_id: int
    job_id: str
    task_name: str
    webhook_id: str
    received_at: str = field(default_factory=now_iso)


class Runner:
    """Owns the background tasks of one worker process and the record of what they did."""

    def __init__(self, config: WorkerConfig, rpc: Rpc, runs: RunLog | None = None,
                 rng: random.Random | None = None) -> None:
        self._config = config
        self._rpc = rpc
        self.runs = runs or RunLog()
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(config.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._job_ids: set[str] = set()
        self._running = 0
        self.accepting = True
        self.last_delivery = time.monotonic()

    @property
    def in_flight(self) -> int:
        """Jobs this process holds: running or waiting for a slot."""
        return len(self._tasks)

    @property
    def running(self) -> int:
        """Jobs whose task is executing now."""
        return self._running

    def submit(self, delivery: Delivery) -> str:
        """Take a delivery for background processing: ``accepted``, ``duplicate``, ``busy`` or ``stopping``.

        ``busy`` and ``stopping`` leave the message queued: the sweeper delivers it again later.
        """
        self.last_delivery = time.monotonic()
        if not self.accepting:
            return "stopping"
        if delivery.job_id in self._job_ids:
            log.info("delivery.duplicate", job_id=delivery.job_id, msg_id=delivery.msg_id)
            return "duplicate"
        if len(self._tasks) >= self._config.concurrency + self._config.max_backlog:
            log.warning("delivery.busy", job_id=delivery.job_id, in_flight=len(self._tasks))
            return "busy"
        self._spawn(delivery.job_id, self._process(delivery))
        return "accepted"

    async def pull_one(self) -> bool:
        """Claim the oldest visible job with ``get_next_job`` once a slot is free; False when none is waiting."""
        await self._slots.acquire()
        try:
            rows = await self._rpc("get_next_job", {"lease_seconds": self._config.lease_seconds})
        except BaseException:
            self._slots.release()
            raise
        if not rows:
            self._slots.release()
            return False
        self._spawn(str(rows[0]["job_id"]), self._run_pulled(rows[0]))
        return True

    async def wait_idle(self) -> None:
        """Return once no job is held here (new deliveries may start again at any time)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def drain(self, grace_seconds: float) -> None:
        """Stop taking work, let running jobs finish within the grace period, then cancel the rest.

        A cancelled job keeps its lease until it expires; then the message is visible and delivered again.
        """
        self.accepting = False
        pending = set(self._tasks)
        if pending:
            log.info("runner.draining", in_flight=len(pending), grace_seconds=grace_seconds)
            _, pending = await asyncio.wait(pending, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        log.info("runner.drained", released=len(pending))

    def _spawn(self, job_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"job-{job_id}")
        self._tasks.add(task)
        self._job_ids.add(job_id)

        def forget(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self._job_ids.discard(job_id)

        task.add_done_callback(forget)

    async def _process(self, delivery: Delivery) -> None:
        async with self._slots:
            if not self.accepting:
                log.info("delivery.left_queued", job_id=delivery.job_id, reason="shutting down")
                return
            try:
                rows = await self._rpc("mark_job_processing", {
                    "job_id": delivery.job_id, "msg_id": delivery.msg_id,
                    "lease_seconds": self._config.lease_seconds})
            except Exception as err:
                log.error("job.claim_failed", job_id=delivery.job_id, msg_id=delivery.msg_id, error=str(err))
                return
            if not rows:
                log.info("job.skipped", job_id=delivery.job_id, msg_id=delivery.msg_id,
                         reason="leased by another delivery or already finished")
                return
            await self._execute(rows[0], "webhook", delivery.received_at)

    async def _run_pulled(self, row: dict[str, Any]) -> None:
        try:
            await self._execute(row, "pull", now_iso())
        finally:
            self._slots.release()

    async def _execute(self, row: dict[str, Any], source: str, received_at: str) -> None:
        job_id, task_name, attempt = str(row["job_id"]), str(row["task_name"]), int(row["attempts"])
        run = self.runs.start(job_id, task_name, row.get("msg_id"), attempt, source, received_at)
        log.info("job.processing", job_id=job_id, task_name=task_name, attempt=attempt, source=source)
        self._running += 1
        keeper = asyncio.create_task(self._keep_lease(job_id))
        try:
            result = await run_task(job_id, task_name, self._config.job_min_seconds, self._config.job_max_seconds,
                                    self._config.fail_pattern, self._rng)
        except asyncio.CancelledError:
            self.runs.finish(run, "released")
            log.warning("job.released", job_id=job_id, attempt=attempt, reason="shutdown; the lease will expire")
            raise
        except Exception as err:
            await self._report_failure(run, f"{type(err).__name__}: {err}")
        else:
            await self._report_success(run, result)
        finally:
            self._running -= 1
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _report_success(self, run: Run, result: str) -> None:
        try:
            rows = await self._rpc("mark_job_completed", {"job_id": run.job_id, "result": result})
        except Exception as err:
            self.runs.finish(run, "error", f"mark_job_completed: {err}")
            log.error("job.report_failed", job_id=run.job_id, rpc="mark_job_completed", error=str(err))
            return
        outcome = "completed" if rows else "duplicate"
        self.runs.finish(run, outcome)
        log.info(f"job.{outcome}", job_id=run.job_id, attempt=run.attempt, duration=run.duration_seconds)

    async def _report_failure(self, run: Run, error: str) -> None:
        delay = retry_delay(run.attempt, self._config.retry_base_seconds, self._config.retry_max_seconds, self._rng)
        try:
            rows = await self._rpc("mark_job_failed", {
                "job_id": run.job_id, "error": error, "retry_in_seconds": delay,
                "max_attempts": self._config.max_attempts})
        except Exception as err:
            self.runs.finish(run, "error", f"mark_job_failed: {err}")
            log.error("job.report_failed", job_id=run.job_id, rpc="mark_job_failed", error=str(err))
            return
        dead = bool(rows) and rows[0].get("status") == "failed"
        self.runs.finish(run, "failed" if dead else "retrying", error)
        if dead:
            log.warning("job.dead_lettered", job_id=run.job_id, attempt=run.attempt, error=error)
        else:
            log.info("job.retrying", job_id=run.job_id, attempt=run.attempt, retry_in_seconds=delay, error=error)

    async def _keep_lease(self, job_id: str) -> None:
        interval = self._config.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                kept = await self._rpc("extend_job_lease", {"job_id": job_id,
                                                            "lease_seconds": self._config.lease_seconds})
            except Exception as err:
                log.warning("job.lease_extend_failed", job_id=job_id, error=str(err))
                continue
            log.info("job.lease_extended" if kept else "job.lease_lost", job_id=job_id,
                     lease_seconds=self._config.lease_seconds)
