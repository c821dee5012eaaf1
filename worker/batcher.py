"""Many jobs' calls in one round trip, without making any of them wait for a timer.

The first call goes out at once; calls made while a batch is in flight queue up and go together in the next
one, whatever their kind (a claim, a completion). At low load every call is a batch of one (no added latency);
under load, the REST request, the transaction and the commit are shared by many jobs, which is where a busy
worker's time goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from worker.rpc import Rpc

Item = dict[str, Any]
Row = dict[str, Any]
Waiting = tuple[str, Item, "asyncio.Future[Row | None]"]


class RpcBatcher:
    """Coalesces ``call(kind, item)`` into ``rpc(name, arguments(items_by_kind))``; each caller gets its job's row.

    A batch carries a job at most once (the answer is matched by ``job_id``); a second call for a job already in
    the batch waits for the next one.
    """

    def __init__(self, rpc: Rpc, name: str, arguments: Callable[[dict[str, list[Item]]], dict[str, Any]],
                 max_batch: int = 100) -> None:
        self._rpc = rpc
        self._name = name
        self._arguments = arguments
        self._max_batch = max_batch
        self._waiting: list[Waiting] = []
        self._sender: asyncio.Task[None] | None = None
        self.batches = 0

    async def call(self, kind: str, item: Item) -> Row | None:
        """Send ``item`` (it names a ``job_id``) in the next batch; the returned row of that job, or None."""
        future: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((kind, item, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send(), name=f"batch-{self._name}")
        return await future

    def _next_batch(self) -> list[Waiting]:
        batch: list[Waiting] = []
        later: list[Waiting] = []
        jobs: set[str] = set()
        for waiting in self._waiting:
            _, item, future = waiting
            if future.done():
                continue
            job_id = str(item["job_id"])
            if len(batch) < self._max_batch and job_id not in jobs:
                batch.append(waiting)
                jobs.add(job_id)
            else:
                later.append(waiting)
        self._waiting = later
        return batch

    async def _send(self) -> None:
        while self._waiting:
            batch = self._next_batch()
            if not batch:
                continue
            self.batches += 1
            items: dict[str, list[Item]] = {}
            for kind, item, _ in batch:
                items.setdefault(kind, []).append(item)
            try:
                rows = await self._rpc(self._name, self._arguments(items))
            except Exception as err:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            found = {str(row["job_id"]): row for row in rows or []}
            for _, item, future in batch:
                if not future.done():
                    future.set_result(found.get(str(item["job_id"])))
