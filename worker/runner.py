"""Runs deliveries in the background: claim the lease and run the job's task in one of a bounded number of
slots, then report the outcome.

Delivery is at least once; the database makes the effect exactly once (``mark_job_processing`` refuses a
second claim, ``mark_job_completed`` is terminal). The runner adds what only a process can: a concurrency
bound served highest priority first, holding a delayed delivery until it comes due, the task's timeout, an
operator's cancel, coalesced progress, lease extension while a task runs, retry delays with jitter, and a drain
on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

from worker.backoff import retry_delay
from worker.batcher import RpcBatcher
from worker.claim import ClaimedJob
from worker.config import WorkerConfig
from worker.progress import ProgressReporter
from worker.rpc import Rpc
from worker.runs import Run, RunLog, now_iso
from worker.slots import PrioritySlots, SlotHold
from worker.tasks import PayloadInvalid, TaskContext, TaskRegistry, TaskResult, default_registry

log = structlog.get_logger(__name__)

PULL_PRIORITY = float("-inf")  # a pulled job takes a slot only when no delivery is waiting for one
DUE_MARGIN_SECONDS = 0.02  # claim just after run_after, never a hair before the message is visible


class JobCancelled(Exception):
    """The operator cancelled the job and its task has stopped."""


class JobFailure(Exception):
    """An attempt failed; ``permanent`` failures are dead-lettered at once (a payload that can never fit)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Delivery:
    """A validated webhook body: which message announces which job, and when it may be claimed."""

    msg_id: int
    job_id: str
    task_name: str
    webhook_id: str
    job_type: str = "echo"
    priority: int = 0
    run_after: float | None = None  # unix time; None means now
    received_at: str = field(default_factory=now_iso)


@dataclass
class _Execution:
    """A task running now, and whether the operator asked it to stop."""

    task: asyncio.Task[TaskResult]
    cancel_requested: bool = False


class Runner:
    """Owns the background tasks of one worker process and the record of what they did."""

    def __init__(self, config: WorkerConfig, rpc: Rpc, runs: RunLog | None = None,
                 rng: random.Random | None = None, registry: TaskRegistry | None = None) -> None:
        self._config = config
        self._rpc = rpc
        self.runs = runs or RunLog()
        self._rng = rng or random.Random()
        self._registry = registry or default_registry()
        self._slots = PrioritySlots(config.concurrency)
        self._flush = RpcBatcher(rpc, "mark_jobs", lambda items: {
            "claims": items.get("claims", []), "completions": items.get("completions", []),
            "lease_seconds": config.lease_seconds})
        self._tasks: set[asyncio.Task[None]] = set()
        self._holding: dict[str, asyncio.Task[None]] = {}  # job_id → the task holding its current delivery
        self._executions: dict[str, _Execution] = {}
        self.accepting = True
        self.last_delivery = time.monotonic()
        self.owes_pull = False  # a delivery was refused as busy: pull its message once the backlog drains

    @property
    def in_flight(self) -> int:
        """Jobs this process holds: running, waiting for a slot, or held until they come due."""
        return len(self._tasks)

    @property
    def backlog_drained(self) -> bool:
        """No more jobs held than there are slots to run them."""
        return len(self._tasks) <= self._config.concurrency

    @property
    def running(self) -> int:
        """Jobs whose task is executing now."""
        return len(self._executions)

    @property
    def waiting_for_slot(self) -> int:
        """Deliveries (and a pull) waiting for a free slot: the backlog a busy worker holds."""
        return self._slots.waiting

    def submit(self, delivery: Delivery) -> str:
        """Take a delivery for background processing: ``accepted``, ``duplicate``, ``busy`` or ``stopping``.

        ``busy`` and ``stopping`` leave the message queued: the sweeper delivers it again later, unless this
        worker pulls it first (after a ``busy``, it pulls once its backlog has drained).
        """
        self.last_delivery = time.monotonic()
        if not self.accepting:
            return "stopping"
        if delivery.job_id in self._holding:
            log.info("delivery.duplicate", job_id=delivery.job_id, msg_id=delivery.msg_id)
            return "duplicate"
        if len(self._tasks) >= self._config.concurrency + self._config.max_backlog:
            log.warning("delivery.busy", job_id=delivery.job_id, in_flight=len(self._tasks))
            self.owes_pull = True
            return "busy"
        self._spawn(delivery.job_id, self._process(delivery))
        return "accepted"

    async def pull_one(self) -> bool:
        """Claim the best visible job with ``get_next_job`` once a slot is free; False when none is waiting."""
        hold = await self._slots.take(PULL_PRIORITY)
        try:
            rows = await self._rpc("get_next_job", {"lease_seconds": self._config.lease_seconds})
        except BaseException:
            hold.release()
            raise
        if not rows:
            hold.release()
            return False
        self._spawn(str(rows[0]["job_id"]), self._run_pulled(rows[0], hold))
        return True

    def request_cancel(self, job_id: str) -> bool:
        """Stop a running task because the operator cancelled its job; False when it does not run here."""
        execution = self._executions.get(job_id)
        if execution is None or execution.cancel_requested:
            return False
        execution.cancel_requested = True
        execution.task.cancel()
        log.info("job.cancel_requested", job_id=job_id)
        return True

    async def watch_cancellations(self, stop: asyncio.Event) -> None:
        """Every ``cancel_poll_seconds`` while tasks run, ask which of them the operator cancelled (one RPC)."""
        while not stop.is_set():
            if self._executions:
                try:
                    cancelled = await self._rpc("job_cancel_requests", {"job_ids": list(self._executions)})
                except Exception as err:
                    log.warning("job.cancel_poll_failed", error=str(err))
                    cancelled = []
                for job_id in cancelled or []:
                    self.request_cancel(str(job_id))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._config.cancel_poll_seconds)

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
        self._holding[job_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self._let_go(job_id, done)

        task.add_done_callback(forget)

    def _let_go(self, job_id: str, task: asyncio.Task[Any] | None) -> None:
        """Stop treating deliveries of ``job_id`` as duplicates of the one ``task`` holds."""
        if task is not None and self._holding.get(job_id) is task:
            del self._holding[job_id]

    async def _process(self, delivery: Delivery) -> None:
        if delivery.run_after is not None:
            await asyncio.sleep(max(0.0, delivery.run_after - time.time()) + DUE_MARGIN_SECONDS)
        async with self._slots.slot(delivery.priority) as hold:
            if not self.accepting:
                log.info("delivery.left_queued", job_id=delivery.job_id, reason="shutting down")
                return
            try:
                row = await self._flush.call("claims", {"job_id": delivery.job_id, "msg_id": delivery.msg_id})
            except Exception as err:
                log.error("job.claim_failed", job_id=delivery.job_id, msg_id=delivery.msg_id, error=str(err))
                return
            if row is None:
                log.info("job.skipped", job_id=delivery.job_id, msg_id=delivery.msg_id,
                         reason="leased by another delivery, cancelled or already finished")
                return
            await self._execute(ClaimedJob.from_row(row), "webhook", delivery.received_at, hold)

    async def _run_pulled(self, row: dict[str, Any], hold: SlotHold) -> None:
        try:
            await self._execute(ClaimedJob.from_row(row), "pull", now_iso(), hold)
        finally:
            hold.release()

    async def _execute(self, job: ClaimedJob, source: str, received_at: str, hold: SlotHold) -> None:
        """Run the job's task in its slot, then report the outcome. The slot is freed when the task is over, not
        when the report is written: concurrency bounds tasks running, and a busy worker's reports wait for the
        next batched flush, where they would keep other deliveries from starting. The lease is kept until the
        report is written."""
        run = self.runs.start(job.job_id, job.task_name, job.msg_id, job.attempt, source, received_at, job.job_type)
        log.info("job.processing", job_id=job.job_id, job_type=job.job_type, task_name=job.task_name,
                 attempt=job.attempt, source=source)
        progress = ProgressReporter(self._rpc, job.job_id, self._config.progress_interval_seconds)
        keeper = asyncio.create_task(self._keep_lease(job.job_id))
        try:
            try:
                result = await self._run_task(job, progress)
            finally:
                hold.release()
        except asyncio.CancelledError:
            self.runs.finish(run, "released")
            log.warning("job.released", job_id=job.job_id, attempt=job.attempt,
                        reason="shutdown; the lease will expire")
            raise
        except JobCancelled:
            await progress.close()
            await self._report(run, "mark_job_cancelled", self._rpc("mark_job_cancelled", {"job_id": job.job_id}))
        except JobFailure as err:
            await progress.close()
            await self._report_failure(run, str(err), err.permanent)
        else:
            await progress.close()
            await self._report(run, "mark_job_completed", self._flush.call(
                "completions", {"job_id": job.job_id, "result": result.summary, "output": result.output}))
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _run_task(self, job: ClaimedJob, progress: ProgressReporter) -> TaskResult:
        """The job's task under its timeout; every way it can fail becomes a ``JobFailure``."""
        definition = self._registry.get(job.job_type)
        if definition is None:
            raise JobFailure(f"no task is registered for job type {job.job_type!r} in this worker")
        try:
            payload = definition.parse(job.payload)
        except PayloadInvalid as err:
            raise JobFailure(str(err), permanent=True) from err
        pattern = self._config.fail_pattern
        if pattern is not None and pattern.search(job.task_name):
            raise JobFailure(f"task {job.task_name!r} matches JOB_FAIL_PATTERN {pattern.pattern!r}")
        context = TaskContext(job.job_id, job.task_name, job.job_type, job.attempt, self._config.job_min_seconds,
                              self._config.job_max_seconds, progress.report, self._rng)
        task = asyncio.create_task(definition.run(payload, context), name=f"task-{job.job_id}")
        execution = self._executions[job.job_id] = _Execution(task)
        try:
            async with asyncio.timeout(job.timeout_seconds):
                return await task
        except TimeoutError as err:
            raise JobFailure(f"timed out after {job.timeout_seconds:g} s") from err
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the worker is shutting down
            if execution.cancel_requested:
                raise JobCancelled from None
            raise JobFailure("the task was cancelled without a cancel request") from None
        except Exception as err:
            raise JobFailure(f"{type(err).__name__}: {err}") from err
        finally:
            self._executions.pop(job.job_id, None)

    async def _report(self, run: Run, rpc_name: str, sent: Awaitable[Any]) -> None:
        """Report a completion or a cancellation; the row's status says which one the database recorded."""
        try:
            answer = await sent
        except Exception as err:
            self.runs.finish(run, "error", f"{rpc_name}: {err}")
            log.error("job.report_failed", job_id=run.job_id, rpc=rpc_name, error=str(err))
            return
        rows = answer if isinstance(answer, list) else [answer] if answer else []
        outcome = str(rows[0].get("status")) if rows else "duplicate"
        self.runs.finish(run, outcome)
        log.info(f"job.{outcome}", job_id=run.job_id, attempt=run.attempt, duration=run.duration_seconds)

    async def _report_failure(self, run: Run, error: str, permanent: bool) -> None:
        delay = retry_delay(run.attempt, self._config.retry_base_seconds, self._config.retry_max_seconds, self._rng)
        # mark_job_failed sends a short back-off's retry at once: its webhook may arrive before this call returns,
        # and it is the next attempt, not a duplicate of this one.
        self._let_go(run.job_id, asyncio.current_task())
        try:
            rows = await self._rpc("mark_job_failed", {
                "job_id": run.job_id, "error": error, "retry_in_seconds": delay,
                "max_attempts": self._config.max_attempts, "permanent": permanent})
        except Exception as err:
            self.runs.finish(run, "error", f"mark_job_failed: {err}")
            log.error("job.report_failed", job_id=run.job_id, rpc="mark_job_failed", error=str(err))
            return
        status = str(rows[0].get("status")) if rows else "duplicate"
        outcome = {"failed": "failed", "pending": "retrying"}.get(status, status)
        self.runs.finish(run, outcome, error)
        if outcome == "failed":
            log.warning("job.dead_lettered", job_id=run.job_id, attempt=run.attempt, error=error)
        else:
            log.info("job.retrying", job_id=run.job_id, attempt=run.attempt, retry_in_seconds=delay, error=error,
                     outcome=outcome)

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
