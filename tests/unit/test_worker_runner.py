"""The runner against an in-memory RPC stand-in: claims, outcomes, bounds, leases, retries and draining."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator

from tests.worker_fakes import FakeRpc, make_config, new_job_id
from worker.backoff import retry_delay
from worker.intake import Delivery
from worker.pull import PullPolicy, pull_loop
from worker.runner import Runner

ALL_DONE = 30.0  # generous grace: drain returns as soon as the jobs are done


def delivery(job_id: str | None = None, msg_id: int = 1, task_name: str = "report") -> Delivery:
    return Delivery(msg_id=msg_id, job_id=job_id or new_job_id(), task_name=task_name, webhook_id="wh")


async def test_claimed_job_completes_with_a_result_naming_it():
    job = delivery(task_name="nightly report")
    rpc = FakeRpc(task_names={job.job_id: "nightly report"})
    runner = Runner(make_config(), rpc)
    assert runner.submit(job) == "accepted"
    await runner.wait_idle()
    assert rpc.names("mark_job_processing") == [{"job_id": job.job_id, "msg_id": 1, "lease_seconds": 60}]
    [completed] = rpc.names("mark_job_completed")
    assert "nightly report" in completed["result"] and job.job_id in completed["result"]
    [run] = runner.runs.snapshot(10)
    assert (run["job_id"], run["attempt"], run["outcome"], run["source"]) == (job.job_id, 1, "completed", "webhook")
    assert run["duration_seconds"] is not None


async def test_refused_claim_skips_the_job():
    job = delivery()
    rpc = FakeRpc(refuse={job.job_id})
    runner = Runner(make_config(), rpc)
    runner.submit(job)
    await runner.wait_idle()
    assert [name for name, _ in rpc.calls] == ["mark_job_processing"]
    assert runner.runs.snapshot(10) == []


async def test_failing_job_retries_with_backoff_then_dead_letters():
    job_id = new_job_id()
    rpc = FakeRpc(dead_after=2, task_names={job_id: "boom-1"})
    config = make_config(fail_pattern=re.compile("^boom"), max_attempts=5)
    runner = Runner(config, rpc, rng=random.Random(1))
    for _ in range(2):
        runner.submit(delivery(job_id, task_name="boom-1"))
        await runner.wait_idle()
    first, second = rpc.names("mark_job_failed")
    assert first["max_attempts"] == 5 and "JOB_FAIL_PATTERN" in first["error"]
    assert 1 <= first["retry_in_seconds"] <= 2 and 2 <= second["retry_in_seconds"] <= 4
    assert [run["outcome"] for run in runner.runs.snapshot(10)] == ["failed", "retrying"]
    assert runner.runs.totals == {"retrying": 1, "failed": 1}


@contextlib.asynccontextmanager
async def most_running(runner: Runner) -> AsyncIterator[list[int]]:
    """``[n]`` on leaving the block: the most tasks ``runner`` ran at once while it ran, sampled every ms."""
    peak = [0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], runner.running)
            await asyncio.sleep(0.001)

    sampler = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        sampler.cancel()


async def test_concurrency_is_bounded_and_backlog_overflow_is_busy():
    rpc = FakeRpc()
    runner = Runner(make_config(concurrency=2, max_backlog=3, job_min_seconds=0.01, job_max_seconds=0.01), rpc)
    outcomes = [runner.submit(delivery()) for _ in range(6)]
    assert outcomes == ["accepted"] * 5 + ["busy"]
    async with most_running(runner) as peak:
        await runner.wait_idle()
    assert peak == [2]
    assert len(rpc.names("mark_job_completed")) == 5


class CompletionsHeld:
    """A ``FakeRpc`` whose completions wait for ``written``; ``writing`` is set once one waits."""

    def __init__(self) -> None:
        self.rpc = FakeRpc()
        self.writing, self.written = asyncio.Event(), asyncio.Event()

    async def __call__(self, name: str, args: dict) -> object:
        if args.get("completions"):
            self.writing.set()
            await self.written.wait()
        return await self.rpc(name, args)


async def test_a_finished_task_frees_its_slot_before_its_completion_is_written():
    """Under load a completion waits for the next batched flush; the next delivery need not wait with it."""
    held = CompletionsHeld()
    rpc = held.rpc
    runner = Runner(make_config(concurrency=1, job_min_seconds=0, job_max_seconds=0), held)
    first, second = delivery(), delivery()
    runner.submit(first)
    runner.submit(second)
    await asyncio.wait_for(held.writing.wait(), timeout=5)
    await asyncio.sleep(0.05)
    # The first job's completion is being written; its slot already went to the second delivery, whose claim
    # waits for the batch in flight, not for a slot.
    assert (runner.running, runner.waiting_for_slot, rpc.names("mark_job_completed")) == (0, 0, [])
    held.written.set()
    await runner.wait_idle()
    assert {done["job_id"] for done in rpc.names("mark_job_completed")} == {first.job_id, second.job_id}


async def test_the_lease_is_kept_until_the_outcome_is_written_after_the_task_ended():
    """A worker killed between the end of a task and its written outcome must leave the job leased."""
    held = CompletionsHeld()
    rpc = held.rpc
    runner = Runner(make_config(lease_seconds=1, job_min_seconds=0, job_max_seconds=0), held)
    runner.submit(delivery())
    async with asyncio.timeout(10):
        await held.writing.wait()
        while not rpc.names("extend_job_lease"):
            await asyncio.sleep(0.01)
    assert (runner.running, rpc.names("mark_job_completed")) == (0, [])
    held.written.set()
    await runner.wait_idle()
    assert [run["outcome"] for run in runner.runs.snapshot(10)] == ["completed"]


async def test_a_worker_that_refused_deliveries_as_busy_pulls_their_jobs_once_its_backlog_drains():
    """Without this, a refused job waited for the sweeper's quiet period (30 s by default)."""
    refused = {"job_id": new_job_id(), "msg_id": 99, "task_name": "refused"}
    rpc = FakeRpc(queue=[refused])
    config = make_config(concurrency=1, max_backlog=1, job_min_seconds=0.05, job_max_seconds=0.05,
                         pull_idle_seconds=0)
    runner = Runner(config, rpc)
    outcomes = [runner.submit(delivery()) for _ in range(3)]
    assert outcomes == ["accepted", "accepted", "busy"] and runner.pulls.owed
    assert runner.pulls.reason(runner.pulls.last_delivery, runner.backlog_drained) is None
    stop = asyncio.Event()
    loop = asyncio.create_task(pull_loop(runner, stop))
    async with asyncio.timeout(10):
        while runner.pulls.owed or refused["job_id"] not in {done["job_id"]
                                                             for done in rpc.names("mark_job_completed")}:
            await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(loop, timeout=10)
    assert len(rpc.names("mark_job_completed")) == 3


async def test_a_job_already_held_here_is_a_duplicate():
    runner = Runner(make_config(), FakeRpc())
    job = delivery()
    assert runner.submit(job) == "accepted"
    assert runner.submit(job) == "duplicate"
    await runner.drain(ALL_DONE)
    assert runner.submit(job) == "stopping"


async def test_long_task_extends_its_lease():
    rpc = FakeRpc()
    runner = Runner(make_config(lease_seconds=1, job_min_seconds=0.8, job_max_seconds=0.8), rpc)
    job = delivery()
    runner.submit(job)
    await runner.wait_idle()
    assert rpc.names("extend_job_lease")[0] == {"job_id": job.job_id, "lease_seconds": 1}
    assert len(rpc.names("mark_job_completed")) == 1


async def test_drain_releases_jobs_that_outlast_the_grace_period():
    rpc = FakeRpc()
    runner = Runner(make_config(concurrency=1, job_min_seconds=60, job_max_seconds=60), rpc)
    running, waiting = delivery(), delivery()
    runner.submit(running)
    runner.submit(waiting)
    while runner.running == 0:
        await asyncio.sleep(0)
    await runner.drain(0)
    assert rpc.names("mark_job_completed") == [] and rpc.names("mark_job_failed") == []
    assert [args["job_id"] for args in rpc.names("mark_job_processing")] == [running.job_id]
    assert [run["outcome"] for run in runner.runs.snapshot(10)] == ["released"]
    assert runner.in_flight == 0


async def test_pull_claims_until_the_queue_is_empty():
    rpc = FakeRpc(queue=[{"job_id": new_job_id(), "msg_id": n, "task_name": f"pulled-{n}"} for n in (1, 2)])
    runner = Runner(make_config(concurrency=1), rpc)
    assert await runner.pull_one()
    assert await runner.pull_one()
    assert not await runner.pull_one()
    await runner.wait_idle()
    assert len(rpc.names("mark_job_completed")) == 2
    assert {run["source"] for run in runner.runs.snapshot(10)} == {"pull"}
    assert rpc.names("mark_job_processing") == []


def test_retry_delay_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(7)
    for attempt, (low, high) in enumerate([(1, 2), (2, 4), (4, 8), (8, 16)], start=1):
        assert low <= retry_delay(attempt, 2, 300, rng) <= high
    assert retry_delay(30, 2, 300, rng) <= 300
    assert retry_delay(3, 0, 300, rng) == 0


async def test_pull_loop_drains_the_queue_then_stops_on_request():
    rpc = FakeRpc(queue=[{"job_id": new_job_id(), "msg_id": n, "task_name": "queued"} for n in range(5)])
    config = make_config(concurrency=2, pull_interval_seconds=0.05, job_min_seconds=0.02, job_max_seconds=0.02)
    runner = Runner(config, rpc, pulls=PullPolicy.of(config, forced=True))
    stop = asyncio.Event()
    async with most_running(runner) as peak, asyncio.timeout(10):
        loop = asyncio.create_task(pull_loop(runner, stop))
        while len(rpc.names("mark_job_completed")) < 5:
            await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(loop, timeout=10)
    assert peak == [2]


async def test_a_retry_delivered_while_the_failure_is_being_reported_is_taken():
    """Regression: the retry's webhook came back before mark_job_failed returned and was dropped as a duplicate,
    so the retry waited for the sweeper's quiet period."""
    job_id = new_job_id()
    runner: Runner | None = None
    outcomes: list[str] = []

    class RetryArrivesEarly(FakeRpc):
        async def __call__(self, name: str, args: dict) -> object:
            if name == "mark_job_failed" and self.attempts[job_id] == 1:
                assert runner is not None
                outcomes.append(runner.submit(delivery(job_id, msg_id=1, task_name="boom-early")))
            return await super().__call__(name, args)

    rpc = RetryArrivesEarly(task_names={job_id: "boom-early"})
    runner = Runner(make_config(fail_pattern=re.compile("^boom"), max_attempts=2), rpc)
    runner.submit(delivery(job_id, task_name="boom-early"))
    await runner.wait_idle()
    assert outcomes == ["accepted"]
    assert [run["attempt"] for run in runner.runs.snapshot(10)] == [2, 1]
