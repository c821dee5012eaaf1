"""Running a task alone: every way an attempt ends comes back as a value, and an unknown job type says what to do."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest
from pydantic import BaseModel

from tests.worker_fakes import make_config
from worker.cancels import CancelWatch
from worker.claim import ClaimedJob
from worker.execute import CANCELLED, Failed, TaskExecutor
from worker.tasks import DEFAULT_JOB_TYPE, TaskContext, TaskRegistry, TaskResult, default_registry


class Count(BaseModel):
    n: int = 1


def registry() -> TaskRegistry:
    tasks = TaskRegistry()

    @tasks.task("count", Count, description="returns its payload")
    async def count(payload: Count, ctx: TaskContext) -> TaskResult:
        return TaskResult(f"counted {payload.n}", {"n": payload.n})

    @tasks.task("boom", Count, description="raises")
    async def boom(payload: Count, ctx: TaskContext) -> TaskResult:
        raise ValueError("no good")

    @tasks.task("forever", Count, description="never ends by itself")
    async def forever(payload: Count, ctx: TaskContext) -> TaskResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return tasks


async def never_called(name: str, args: dict[str, Any]) -> Any:
    raise AssertionError(f"unexpected rpc {name}")


def executor(**config: Any) -> tuple[TaskExecutor, CancelWatch]:
    cancels = CancelWatch(never_called, poll_seconds=60)
    return TaskExecutor(make_config(**config), registry(), cancels, random.Random(1)), cancels


def job(job_type: str, payload: dict[str, Any] | None = None, task_name: str = "t",
        timeout: float | None = None) -> ClaimedJob:
    return ClaimedJob(job_id="j1", task_name=task_name, attempt=1, job_type=job_type, payload=payload or {},
                      timeout_seconds=timeout)


async def started(cancels: CancelWatch) -> None:
    """Return once a task runs."""
    async with asyncio.timeout(10):
        while not len(cancels):
            await asyncio.sleep(0)


def no_progress(percent: int, message: str | None) -> None:
    raise AssertionError("no progress expected")


async def test_a_task_that_returns_ends_with_its_result():
    run, cancels = executor()
    assert await run.run(job("count", {"n": 3}), no_progress) == TaskResult("counted 3", {"n": 3})
    assert len(cancels) == 0


async def test_an_unknown_job_type_fails_for_good_naming_the_type_the_served_ones_and_the_remedy():
    run, _ = executor()
    ended = await run.run(job("resize"), no_progress)
    assert ended == Failed("job type 'resize' is not registered in this worker (it serves: boom, count, forever); "
                           "restart the worker after adding a task", permanent=True)


@pytest.mark.parametrize(("ending", "expected"), [
    (job("count", {"n": "many"}), "payload does not fit job type 'count': payload.n"),
    (job("boom"), "ValueError: no good"),
    (job("forever", timeout=0.01), "timed out after 0.01 s"),
    (job("count", task_name="fail-me"), "matches JOB_FAIL_PATTERN"),
])
async def test_failures_say_why_and_only_a_payload_that_cannot_fit_is_permanent(ending, expected):
    run, cancels = executor(fail_pattern=re.compile("^fail"))
    ended = await run.run(ending, no_progress)
    assert isinstance(ended, Failed) and expected in ended.error
    assert ended.permanent == ended.error.startswith("payload does not fit")
    assert len(cancels) == 0


async def test_a_cancel_request_ends_the_task_cancelled_and_a_stray_cancel_is_a_failure():
    run, cancels = executor()
    running = asyncio.create_task(run.run(job("forever"), no_progress))
    await started(cancels)
    assert cancels.request("j1")
    assert await running is CANCELLED
    stray = asyncio.create_task(run.run(job("forever"), no_progress))
    await started(cancels)
    [task] = [task for task in asyncio.all_tasks() if task.get_name() == "task-j1"]
    task.cancel()
    assert await stray == Failed("the task was cancelled without a cancel request")


async def test_the_workers_own_shutdown_propagates():
    run, cancels = executor()
    running = asyncio.create_task(run.run(job("forever"), no_progress))
    await started(cancels)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert len(cancels) == 0


def test_the_default_job_type_is_served_by_the_default_registry():
    assert DEFAULT_JOB_TYPE in default_registry()
    assert default_registry().names() == sorted(default_registry().names())
