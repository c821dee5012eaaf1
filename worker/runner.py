"""Runs deliveries in the background: admit a delivery, claim its job in one of a bounded number of slots, run
its task, then have its outcome written. The pieces live in their own modules; the runner composes them.

Delivery is at least once; the database makes the effect exactly once (``mark_job_processing`` refuses a
second claim, ``mark_job_completed`` is terminal). The runner adds what only a process can: admission (a
bounded backlog, duplicates of a job held here, ``held``), a concurrency bound served highest priority first
(``slots``), holding a delayed delivery until it comes due, the task run under its timeout (``execute``), an
operator's cancel (``cancels``), the lease kept until the outcome is written (``attempt``), when to pull
(``pull``), and a drain on shutdown.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import structlog

from worker.attempt import Reporter
from worker.batcher import RpcBatcher
from worker.cancels import CancelWatch
from worker.claim import ClaimedJob
from worker.config import WorkerConfig
from worker.execute import Failed, TaskExecutor
from worker.held import HeldJobs
from worker.intake import Delivery
from worker.outcomes import Admission
from worker.progress import ProgressReporter
from worker.pull import PullPolicy
from worker.rpc import Rpc
from worker.runs import RunLog, now_iso
from worker.slots import PrioritySlots, SlotHold
from worker.tasks import TaskRegistry, default_registry

log = structlog.get_logger(__name__)

PULL_PRIORITY = float("-inf")  # a pulled job takes a slot only when no delivery is waiting for one
DUE_MARGIN_SECONDS = 0.02  # claim just after run_after, never a hair before the message is visible


class Runner:
    """Owns the background tasks of one worker process and the record of what they did."""

    def __init__(self, config: WorkerConfig, rpc: Rpc, runs: RunLog | None = None,
                 rng: random.Random | None = None, registry: TaskRegistry | None = None,
                 pulls: PullPolicy | None = None) -> None:
        self._config = config
        self._rpc = rpc
        self.runs = runs or RunLog()
        self.registry = registry or default_registry()
        self.pulls = pulls or PullPolicy.of(config)
        self.cancels = CancelWatch(rpc, config.cancel_poll_seconds)
        rng = rng or random.Random()
        self._slots = PrioritySlots(config.concurrency)
        self._flush = RpcBatcher(rpc, "mark_jobs", lambda items: {
            "claims": items.get("claims", []), "completions": items.get("completions", []),
            "lease_seconds": config.lease_seconds})
        self._executor = TaskExecutor(config, self.registry, self.cancels, rng)
        self._reporter = Reporter(config, rpc, self._flush, self.runs, rng)
        self._held = HeldJobs()
        self.accepting = True

    @property
    def in_flight(self) -> int:
        """Jobs this process holds: running, waiting for a slot, or held until they come due."""
        return len(self._held)

    @property
    def backlog_drained(self) -> bool:
        """No more jobs held than there are slots to run them."""
        return len(self._held) <= self._config.concurrency

    @property
    def running(self) -> int:
        """Jobs whose task is executing now."""
        return len(self.cancels)

    @property
    def waiting_for_slot(self) -> int:
        """Deliveries (and a pull) waiting for a free slot: the backlog a busy worker holds."""
        return self._slots.waiting

    def submit(self, delivery: Delivery) -> Admission:
        """Take a delivery for background processing.

        ``BUSY`` and ``STOPPING`` leave the message queued: the sweeper delivers it again later, unless this
        worker pulls it first (after a ``BUSY``, it pulls once its backlog has drained).
        """
        self.pulls.last_delivery = time.monotonic()
        if not self.accepting:
            return Admission.STOPPING
        if self._held.holds(delivery.job_id):
            log.info("delivery.duplicate", job_id=delivery.job_id, msg_id=delivery.msg_id)
            return Admission.DUPLICATE
        if len(self._held) >= self._config.concurrency + self._config.max_backlog:
            log.warning("delivery.busy", job_id=delivery.job_id, in_flight=len(self._held))
            self.pulls.refused_busy()
            return Admission.BUSY
        self._held.spawn(delivery.job_id, self._process(delivery))
        return Admission.ACCEPTED

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
        self._held.spawn(str(rows[0]["job_id"]), self._run_pulled(rows[0], hold))
        return True

    async def wait_idle(self) -> None:
        """Return once no job is held here (new deliveries may start again at any time)."""
        await self._held.wait_idle()

    async def drain(self, grace_seconds: float) -> None:
        """Stop taking work, let running jobs finish within the grace period, then cancel the rest.

        A cancelled job keeps its lease until it expires; then the message is visible and delivered again.
        """
        self.accepting = False
        released = await self._held.drain(grace_seconds)
        log.info("runner.drained", released=released)

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
        """Run the job's task in its slot, then write the outcome. The slot is freed when the task is over, not
        when the outcome is written: concurrency bounds tasks running, and a busy worker's reports wait for the
        next batched flush, where they would keep other deliveries from starting. The attempt keeps the lease
        until the outcome is written."""
        progress = ProgressReporter(self._rpc, job.job_id, self._config.progress_interval_seconds)
        async with self._reporter.open(job, source, received_at) as attempt:
            try:
                ended = await self._executor.run(job, progress.report)
            except asyncio.CancelledError:
                attempt.released()
                raise
            finally:
                hold.release()
            await progress.close()
            if isinstance(ended, Failed):
                # mark_job_failed sends a short back-off's retry at once: its webhook may arrive before the report
                # returns, and it is the next attempt, not a duplicate of this one.
                self._held.let_go(job.job_id, asyncio.current_task())
            await attempt.write(ended)
