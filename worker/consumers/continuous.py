"""``python -m worker --consume QUEUE --batch N --vt S``: drain a queue continuously, for work that cannot wait
for the next cron tick. Each round handles a batch as the cron endpoint does (``batch.handle``), then
acknowledges it and reads the next in one call (``acknowledge_and_read``); on an empty queue it long-polls in
the database (``read_messages_with_poll``). SIGTERM or SIGINT ends it after the batch in hand, acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import httpx
import structlog
from postgrest.exceptions import APIError
from pydantic import ValidationError

from worker.consumers.batch import BatchReport, handle
from worker.consumers.consumer import Consumer
from worker.consumers.messages import BatchSettings, Message
from worker.consumers.queue_client import QueueClient
from worker.consumers.registry import UnknownQueue, consumer_for

log = structlog.get_logger(__name__)

MAX_POLL_SECONDS = 5
RETRY_SECONDS = 1.0
# Loops at once: while one handles its batch, others read. Measured on two cores (bench/bench_drains.py): 2 loops
# drained about 10k no-op messages/s in batches of 100, 4 loops about 16-22k.
LOOPS = 4


class _Drain:
    """The loops of one consumer and what they share: the client, the stop signal, the totals, and the right
    to long-poll (one loop at a time waits in the database for an empty queue; the others wait for it)."""

    def __init__(self, client: QueueClient, consumer: Consumer, settings: BatchSettings, stop: asyncio.Event) -> None:
        self.client = client
        self.consumer = consumer
        self.settings = settings
        self.stop = stop
        self.totals = BatchReport(consumer.queue)
        self._polling = asyncio.Lock()

    async def _long_poll(self) -> list[Message] | None:
        """The next batch, or None once ``stop`` is set (a long poll in progress is abandoned)."""
        async with self._polling:
            if self.stop.is_set():
                return None
            read = asyncio.ensure_future(self.client.read_with_poll(
                self.consumer.queue, self.settings.visibility_seconds, self.settings.batch_size, MAX_POLL_SECONDS))
            stopped = asyncio.ensure_future(self.stop.wait())
            done, _ = await asyncio.wait({read, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if read not in done:
                read.cancel()
                with contextlib.suppress(asyncio.CancelledError, APIError, httpx.HTTPError):
                    await read
                return None
            return read.result()

    async def loop(self) -> None:
        """Read, handle, and acknowledge each batch together with the next read: one call per batch under load,
        a long poll when the queue is empty. A failed call is retried after a second; what was handled and not
        yet acknowledged is acknowledged before the loop ends."""
        queue, settings = self.consumer.queue, self.settings
        done: list[int] = []
        while not self.stop.is_set():
            try:
                if done:
                    messages: list[Message] | None = await self.client.acknowledge_and_read(
                        queue, done, self.consumer.archive, settings.visibility_seconds, settings.batch_size)
                    done = []
                else:
                    messages = await self._long_poll()
                if messages is None:
                    break
                if messages:
                    report, done = await handle(self.client, self.consumer, messages, settings.max_reads)
                    self.totals.add(report)
            except (APIError, httpx.HTTPError) as err:
                log.warning("consumer.retrying", queue=queue, error=str(err))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), RETRY_SECONDS)
        if done:
            await self.client.acknowledge(queue, done, self.consumer.archive)


async def consume(client: QueueClient, consumer: Consumer, settings: BatchSettings,
                  stop: asyncio.Event) -> BatchReport:
    """Handle batches until ``stop`` is set, in ``LOOPS`` loops at once, so that the consumer's CPU, the
    gateway's and the database's overlap instead of taking turns."""
    drain = _Drain(client, consumer, settings, stop)
    await asyncio.gather(*(drain.loop() for _ in range(LOOPS)))
    return drain.totals


async def _run(supabase_url: str, service_role_key: str, consumer: Consumer, settings: BatchSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await QueueClient.connect(supabase_url, service_role_key)
    log.info("consumer.started", queue=consumer.queue, **settings.model_dump())
    try:
        totals = await consume(client, consumer, settings, stop)
    finally:
        await client.close()
    log.info("consumer.stopped", **totals.as_dict())


def main(supabase_url: str, service_role_key: str, queue: str, batch: int, vt: int) -> int:
    """Run the continuous consumer of ``queue``; exit 2 when the queue or the numbers are wrong."""
    try:
        consumer = consumer_for(queue)
        settings = BatchSettings(batch_size=batch, visibility_seconds=vt)
    except UnknownQueue as err:
        print(f"worker: {err.args[0]}", file=sys.stderr)
        return 2
    except ValidationError as err:
        problems = "; ".join(f"--{'batch' if e['loc'][0] == 'batch_size' else 'vt'} {e['msg']}" for e in err.errors())
        print(f"worker: {problems}", file=sys.stderr)
        return 2
    asyncio.run(_run(supabase_url, service_role_key, consumer, settings))
    return 0
