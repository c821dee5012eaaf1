"""Many jobs' calls of one RPC in one round trip, without making any of them wait for a timer.

The first call goes out at once; calls made while a batch is in flight queue up and go together in the next
one. At low load every call is a batch of one (no added latency); under load, the REST request, the
transaction and the commit are shared by many jobs, which is where a busy worker's time goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from worker.rpc import Rpc

Item = dict[str, Any]
Row = dict[str, Any]


class RpcBatcher:
    """Coalesces ``call(item)`` into ``rpc(name, arguments(items))``; each caller gets the row of its job (or None)."""

    def __init__(self, rpc: Rpc, name: str, arguments: Callable[[list[Item]], dict[str, Any]],
                 max_batch: int = 100) -> None:
        self._rpc = rpc
        self._name = name
        self._arguments = arguments
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Row | None]]] = []
        self._sender: asyncio.Task[None] | None = None
        self.batches = 0

    async def call(self, item: Item) -> Row | None:
        """Send ``item`` (it names a ``job_id``) in the next batch; the returned row of that job, or None."""
        future: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send(), name=f"batch-{self._name}")
        return await future

    async def _send(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch:]
            batch = [(item, future) for item, future in batch if not future.done()]
            if not batch:
                continue
            self.batches += 1
            try:
                rows = await self._rpc(self._name, self._arguments([item for item, _ in batch]))
            except Exception as err:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            found = {str(row["job_id"]): row for row in rows or []}
            for item, future in batch:
                if not future.done():
                    future.set_result(found.get(str(item["job_id"])))
