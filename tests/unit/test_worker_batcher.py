"""Batching a busy worker's claims and completions: one round trip for many jobs, none for a quiet one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.worker_fakes import FakeRpc, make_config, new_job_id
from worker.batcher import RpcBatcher
from worker.intake import Delivery
from worker.runner import Runner


class SlowEcho:
    """Answers each batch after a pause, with one row per item except the ones it is told to refuse."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.refuse = refuse

    async def __call__(self, name: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        items = [*args["claims"], *args["completions"]]
        self.batches.append(items)
        await asyncio.sleep(0.05)
        kept = [item for item in items if item["job_id"] not in self.refuse]
        return [{"job_id": item["job_id"], "n": item["n"]} for item in kept]


def both(items: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"claims": items.get("claims", []), "completions": items.get("completions", [])}


async def test_a_lone_call_goes_at_once_and_calls_made_meanwhile_share_the_next_batch():
    rpc = SlowEcho(refuse=frozenset({"j3"}))
    batcher = RpcBatcher(rpc, "echo", both)
    first = asyncio.create_task(batcher.call("claims", {"job_id": "j0", "n": 0}))
    await asyncio.sleep(0)
    kinds = ["claims", "completions"]
    rest = [asyncio.create_task(batcher.call(kinds[n % 2], {"job_id": f"j{n}", "n": n})) for n in range(1, 6)]
    answers = await asyncio.gather(first, *rest)
    assert [len(batch) for batch in rpc.batches] == [1, 5]
    assert [answer and answer["n"] for answer in answers] == [0, 1, 2, None, 4, 5]


async def test_a_batch_carries_a_job_once_and_a_second_call_for_it_waits_for_the_next_batch():
    rpc = SlowEcho()
    batcher = RpcBatcher(rpc, "echo", both)
    first = asyncio.create_task(batcher.call("claims", {"job_id": "j0", "n": 0}))
    await asyncio.sleep(0)
    calls = [("claims", "j1", 1), ("completions", "j1", 2), ("completions", "j2", 3)]
    rest = [asyncio.create_task(batcher.call(kind, {"job_id": job_id, "n": n})) for kind, job_id, n in calls]
    answers = await asyncio.gather(first, *rest)
    assert [[item["n"] for item in batch] for batch in rpc.batches] == [[0], [1, 3], [2]]
    assert [answer and answer["n"] for answer in answers] == [0, 1, 2, 3]


async def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_still_goes():
    calls = 0

    async def flaky(name: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("gateway away")
        return [{"job_id": item["job_id"]} for item in args["claims"]]

    batcher = RpcBatcher(flaky, "echo", both)
    with pytest.raises(ConnectionError):
        await batcher.call("claims", {"job_id": "a"})
    assert await batcher.call("claims", {"job_id": "b"}) == {"job_id": "b"}


async def test_a_busy_worker_claims_and_completes_in_few_round_trips():
    rpc = FakeRpc()
    runner = Runner(make_config(concurrency=20), rpc)
    for n in range(20):
        runner.submit(Delivery(msg_id=n + 1, job_id=new_job_id(), task_name="burst", webhook_id=f"wh{n}"))
    await runner.wait_idle()
    requests = [name for name, _ in rpc.requests]
    assert len(rpc.names("mark_job_completed")) == 20 and len(rpc.names("mark_job_processing")) == 20
    assert set(requests) == {"mark_jobs"} and len(requests) < 40
