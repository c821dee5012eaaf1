"""Cancel polling alone: one call for all running jobs, only while some run; a cancelled job's task is stopped."""

from __future__ import annotations

import asyncio
from typing import Any

from worker.cancels import CancelWatch


class CancelRpc:
    """``job_cancel_requests`` answering with ``cancelled`` (or raising ``failure``); every call recorded."""

    def __init__(self, cancelled: list[str], failure: Exception | None = None) -> None:
        self.cancelled = cancelled
        self.failure = failure
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, name: str, args: dict[str, Any]) -> Any:
        self.calls.append((name, args))
        if self.failure is not None:
            raise self.failure
        return [job_id for job_id in self.cancelled if job_id in args["job_ids"]]


async def forever() -> None:
    await asyncio.Event().wait()


async def test_one_poll_asks_about_every_running_job_and_stops_the_cancelled_ones():
    rpc = CancelRpc(cancelled=["b"])
    watch = CancelWatch(rpc, poll_seconds=60)
    tasks = {job_id: asyncio.create_task(forever()) for job_id in ("a", "b")}
    executions = {job_id: watch.track(job_id, task) for job_id, task in tasks.items()}
    await watch.poll()
    assert rpc.calls == [("job_cancel_requests", {"job_ids": ["a", "b"]})]
    await asyncio.gather(tasks["b"], return_exceptions=True)
    assert (tasks["a"].done(), tasks["b"].cancelled()) == (False, True)
    assert (executions["a"].cancel_requested, executions["b"].cancel_requested) == (False, True)
    assert not watch.request("b"), "a second request for the same job changes nothing"
    tasks["a"].cancel()


async def test_no_call_while_nothing_runs_and_a_forgotten_job_is_not_asked_about():
    rpc = CancelRpc(cancelled=[])
    watch = CancelWatch(rpc, poll_seconds=60)
    await watch.poll()
    task = asyncio.create_task(forever())
    watch.track("a", task)
    watch.forget("a")
    await watch.poll()
    assert (rpc.calls, len(watch), watch.request("a")) == ([], 0, False)
    task.cancel()


async def test_a_failed_poll_leaves_the_tasks_running_and_the_watch_going():
    rpc = CancelRpc(cancelled=["a"], failure=ConnectionError("gateway away"))
    watch = CancelWatch(rpc, poll_seconds=0.01)
    task = asyncio.create_task(forever())
    watch.track("a", task)
    stop = asyncio.Event()
    watching = asyncio.create_task(watch.watch(stop))
    async with asyncio.timeout(10):
        while len(rpc.calls) < 2:
            await asyncio.sleep(0.005)
    assert not task.done()
    rpc.failure = None
    async with asyncio.timeout(10):
        while not task.done():
            await asyncio.sleep(0.005)
    stop.set()
    await asyncio.wait_for(watching, timeout=10)
    assert task.cancelled()
