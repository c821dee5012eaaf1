"""The priority slots alone: waiters served highest priority first (oldest first among equals), a hold released
once however often it is released, and a slot handed to a waiter that was cancelled meanwhile not lost."""

from __future__ import annotations

import asyncio

import pytest

from worker.slots import PrioritySlots


async def settled() -> None:
    """Let every task that can run, run (waiters queue up, handed-over slots are taken)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_waiters_are_served_by_priority_then_age():
    slots = PrioritySlots(1)
    first = await slots.take()
    order: list[str] = []

    async def wait(name: str, priority: float) -> None:
        hold = await slots.take(priority)
        order.append(name)
        hold.release()

    waiters = [asyncio.create_task(wait(name, priority))
               for name, priority in (("low", 0), ("pull", float("-inf")), ("high", 10), ("low-later", 0))]
    await settled()
    assert slots.waiting == 4
    first.release()
    await asyncio.gather(*waiters)
    assert order == ["high", "low", "low-later", "pull"]


async def test_a_hold_gives_its_slot_back_once():
    slots = PrioritySlots(1)
    async with slots.slot() as hold:
        hold.release()  # early, as a job whose task ended does
        again = await asyncio.wait_for(slots.take(), timeout=10)
    # Leaving the block released nothing more: the slot is still taken by ``again``.
    blocked = asyncio.create_task(slots.take())
    await settled()
    assert not blocked.done() and slots.waiting == 1
    again.release()
    (await asyncio.wait_for(blocked, timeout=10)).release()


async def test_a_slot_handed_to_a_waiter_cancelled_meanwhile_goes_to_the_next():
    slots = PrioritySlots(1)
    first = await slots.take()
    cancelled = asyncio.create_task(slots.take(5))
    after = asyncio.create_task(slots.take(0))
    await settled()
    first.release()  # hands the slot to the priority-5 waiter...
    cancelled.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    (await asyncio.wait_for(after, timeout=10)).release()


def test_a_size_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        PrioritySlots(0)
