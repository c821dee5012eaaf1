"""``python -m worker --consume QUEUE --batch N --vt S``: drain a queue continuously, for work that cannot wait
for the next cron tick. Each round long-polls in the database (``read_messages_with_poll``) for up to a batch,
then handles it as the cron endpoint does (``batch.process``). SIGTERM or SIGINT ends it after the batch in hand.
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

from worker.consumers.batch import BatchReport, process
from worker.consumers.consumer import Consumer
from worker.consumers.messages import BatchSettings, Message
from worker.consumers.queue_client import QueueClient
from worker.consumers.registry import UnknownQueue, consumer_for

log = structlog.get_logger(__name__)

MAX_POLL_SECONDS = 5
RETRY_SECONDS = 1.0
IN_FLIGHT = 2


async def _next_batch(client: QueueClient, consumer: Consumer, settings: BatchSettings,
                      stop: asyncio.Event) -> list[Message] | None:
    """The next batch, or None once ``stop`` is set (a long poll in progress is abandoned)."""
    read = asyncio.ensure_future(client.read_with_poll(consumer.queue, settings.visibility_seconds,
                                                       settings.batch_size, MAX_POLL_SECONDS))
    stopped = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({read, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if read not in done:
        read.cancel()
        with contextlib.suppress(asyncio.CancelledError, APIError, httpx.HTTPError):
            await read
        return None
    return read.result()


async def consume(client: QueueClient, consumer: Consumer, settings: BatchSettings,
                  stop: asyncio.Event) -> BatchReport:
    """Handle batches until ``stop`` is set; a failed database call is retried after a second.

    While one batch is handled and acknowledged the next is already being read (``IN_FLIGHT`` batches at most):
    the consumer's own CPU, the gateway's and the database's overlap instead of taking turns.
    """
    totals = BatchReport(consumer.queue)
    running: set[asyncio.Task[BatchReport]] = set()

    def finished(task: asyncio.Task[BatchReport]) -> None:
        running.discard(task)
        if not task.cancelled() and task.exception() is None:
            totals.add(task.result())
        elif not task.cancelled():
            log.warning("consumer.batch_failed", queue=consumer.queue, error=str(task.exception()))

    while not stop.is_set():
        try:
            messages = await _next_batch(client, consumer, settings, stop)
        except (APIError, httpx.HTTPError) as err:
            log.warning("consumer.retrying", queue=consumer.queue, error=str(err))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)
            continue
        if messages is None:
            break
        if messages:
            task = asyncio.create_task(process(client, consumer, messages, settings.max_reads))
            running.add(task)
            task.add_done_callback(finished)
        if len(running) >= IN_FLIGHT:
            await asyncio.wait(set(running), return_when=asyncio.FIRST_COMPLETED)
    if running:
        await asyncio.wait(set(running))
    return totals


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
