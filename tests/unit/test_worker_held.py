"""The held jobs alone: one holder per job, letting go only by the holder, waiting for idle, draining with a grace."""

from __future__ import annotations

import asyncio

from worker.held import HeldJobs


async def test_a_job_is_held_by_its_task_until_the_task_ends():
    held = HeldJobs()
    go = asyncio.Event()
    held.spawn("a", _wait(go))
    assert (held.holds("a"), held.holds("b"), len(held)) == (True, False, 1)
    go.set()
    await held.wait_idle()
    assert (held.holds("a"), len(held)) == (False, 0)


async def _wait(event: asyncio.Event) -> None:
    await event.wait()


async def test_only_the_holding_task_lets_go():
    """A retry's delivery, taken after the failing attempt let go, must not be let go when that attempt ends."""
    held = HeldJobs()
    first_done, second_done = asyncio.Event(), asyncio.Event()
    held.spawn("a", _wait(first_done))
    [first] = [task for task in asyncio.all_tasks() if task.get_name() == "job-a"]
    held.let_go("a", first)
    assert not held.holds("a")
    held.spawn("a", _wait(second_done))
    first_done.set()
    await first
    async with asyncio.timeout(10):
        while len(held) != 1:  # the first task's done callback runs soon after it ends
            await asyncio.sleep(0)
    assert held.holds("a")
    held.let_go("a", None)
    assert held.holds("a")
    second_done.set()
    await held.wait_idle()


async def test_drain_lets_tasks_finish_within_the_grace_and_cancels_the_rest():
    held = HeldJobs()
    finished: list[str] = []

    async def quick() -> None:
        finished.append("quick")

    held.spawn("quick", quick())
    held.spawn("stuck", _wait(asyncio.Event()))
    assert await held.drain(0.5) == 1
    assert finished == ["quick"] and len(held) == 0
