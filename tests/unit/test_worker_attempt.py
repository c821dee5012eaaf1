"""An attempt alone: the lease is kept until the outcome is written, and each ending is written and recorded."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tests.worker_fakes import make_config
from worker.attempt import Reporter
from worker.batcher import RpcBatcher
from worker.claim import ClaimedJob
from worker.execute import CANCELLED, Ended, Failed
from worker.outcomes import Outcome
from worker.runs import RunLog
from worker.tasks import TaskResult

JOB = ClaimedJob(job_id="j1", task_name="nightly", attempt=1, msg_id=7, job_type="count")


class ReportRpc:
    """Answers reports with ``status`` (or raises ``failure``); a completion waits for ``written`` when given."""

    def __init__(self, status: str = "completed", failure: Exception | None = None,
                 written: asyncio.Event | None = None) -> None:
        self.status = status
        self.failure = failure
        self.written = written
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def names(self, name: str) -> list[dict[str, Any]]:
        return [args for called, args in self.calls if called == name]

    async def __call__(self, name: str, args: dict[str, Any]) -> Any:
        self.calls.append((name, args))
        if name == "extend_job_lease":
            return True
        if self.failure is not None:
            raise self.failure
        if name == "mark_jobs" and self.written is not None:
            await self.written.wait()
        return [{"job_id": "j1", "status": self.status}]


def reporter(rpc: ReportRpc, **config: Any) -> Reporter:
    settings = make_config(**config)
    flush = RpcBatcher(rpc, "mark_jobs", lambda items: {"completions": items.get("completions", [])})
    return Reporter(settings, rpc, flush, RunLog(), random.Random(1))


def lease_keepers() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_coro().__name__ == "keep_lease"]


async def test_the_lease_is_extended_while_the_outcome_is_written_and_let_go_once_it_is():
    """A worker killed between the end of the task and the written outcome must leave the job leased."""
    written = asyncio.Event()
    rpc = ReportRpc(written=written)
    reports = reporter(rpc, lease_seconds=1)
    async with reports.open(JOB, "webhook", "2026-12-05T00:00:00+00:00") as attempt:
        writing = asyncio.create_task(attempt.write(TaskResult("done")))
        async with asyncio.timeout(10):
            while not rpc.names("extend_job_lease"):
                await asyncio.sleep(0.01)
        assert not writing.done()
        written.set()
        assert await writing is Outcome.COMPLETED
    assert rpc.names("extend_job_lease")[0] == {"job_id": "j1", "lease_seconds": 1}
    assert lease_keepers() == []


@pytest.mark.parametrize(("ended", "status", "rpc_name", "outcome"), [
    (TaskResult("done", {"n": 1}), "completed", "mark_jobs", Outcome.COMPLETED),
    (TaskResult("done"), "cancelled", "mark_jobs", Outcome.CANCELLED),  # cancelled while it ran
    (CANCELLED, "cancelled", "mark_job_cancelled", Outcome.CANCELLED),
    (Failed("flaked"), "pending", "mark_job_failed", Outcome.RETRYING),
    (Failed("flaked"), "failed", "mark_job_failed", Outcome.FAILED),
])
async def test_each_ending_is_written_and_recorded_as_the_database_answered(ended: Ended, status, rpc_name, outcome):
    rpc = ReportRpc(status=status)
    reports = reporter(rpc)
    async with reports.open(JOB, "pull", "2026-12-05T00:00:00+00:00") as attempt:
        assert await attempt.write(ended) is outcome
    assert [name for name, _ in rpc.calls] == [rpc_name]
    [run] = reports.runs.snapshot(10)
    assert (run["outcome"], run["source"], run["job_type"], run["msg_id"]) == (outcome, "pull", "count", 7)
    assert run["error"] == (ended.error if isinstance(ended, Failed) else None)
    assert reports.runs.totals == {outcome: 1}


async def test_a_failure_asks_for_a_retry_after_a_back_off_or_for_the_dead_letter_queue_when_permanent():
    rpc = ReportRpc(status="failed")
    reports = reporter(rpc, retry_base_seconds=2, max_attempts=4)
    async with reports.open(JOB, "webhook", "2026-12-05T00:00:00+00:00") as attempt:
        await attempt.write(Failed("flaked"))
        await attempt.write(Failed("never fits", permanent=True))
    first, second = rpc.names("mark_job_failed")
    assert 1 <= first["retry_in_seconds"] <= 2
    assert (first["max_attempts"], first["permanent"], second["permanent"]) == (4, False, True)


async def test_a_report_that_fails_is_recorded_as_an_error_and_the_lease_left_to_run_out():
    reports = reporter(ReportRpc(failure=ConnectionError("gateway away")))
    async with reports.open(JOB, "webhook", "2026-12-05T00:00:00+00:00") as attempt:
        assert await attempt.write(CANCELLED) is Outcome.ERROR
    [run] = reports.runs.snapshot(10)
    assert (run["outcome"], run["error"]) == ("error", "mark_job_cancelled: gateway away")


async def test_a_task_stopped_by_shutdown_is_released():
    rpc = ReportRpc()
    reports = reporter(rpc)
    async with reports.open(JOB, "webhook", "2026-12-05T00:00:00+00:00") as attempt:
        attempt.released()
    assert [run["outcome"] for run in reports.runs.snapshot(10)] == ["released"]
    assert rpc.calls == [] and lease_keepers() == []
