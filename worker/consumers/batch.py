"""One batch, as every drain handles it: dead-letter what was read too often or does not fit, handle the rest,
acknowledge what was handled in one call.

Effect exactly once, delivery at least once: a message is acknowledged only after its effect is written, and
every handler skips effects it wrote before, so a batch read again after a crash writes nothing twice. Two
overlapping calls read disjoint batches (a read hides its messages for the visibility timeout). A batch whose
handler fails is handled one message at a time, so one bad message does not hold back the others; the bad one
stays queued, is read again, and goes to the DLQ when its reads pass the limit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import structlog
from postgrest.exceptions import APIError
from pydantic import BaseModel, ValidationError

from worker.consumers.consumer import Consumer
from worker.consumers.messages import BatchSettings, Message
from worker.consumers.queue_client import QueueClient

log = structlog.get_logger(__name__)


@dataclass
class BatchReport:
    """What one batch came to; ``left`` stay queued and are read again after the visibility timeout."""

    queue: str
    read: int = 0
    handled: int = 0
    dead_lettered: int = 0
    left: int = 0

    def add(self, other: BatchReport) -> None:
        """Sum another batch's counts into this one."""
        self.read += other.read
        self.handled += other.handled
        self.dead_lettered += other.dead_lettered
        self.left += other.left

    def as_dict(self) -> dict[str, Any]:
        """The JSON answer of an endpoint call."""
        return asdict(self)


async def _handled_ids(client: QueueClient, consumer: Consumer, batch: list[tuple[Message, BaseModel]]) -> list[int]:
    """Handle the batch at once, or, when that fails, each message alone; the ids whose effect is written."""
    try:
        await consumer.handle(client, [event for _, event in batch])
        return [message.msg_id for message, _ in batch]
    except APIError as err:
        log.warning("consumer.batch_failed", queue=consumer.queue, size=len(batch), error=err.message)
        if len(batch) == 1:
            return []
    done = []
    for message, event in batch:
        try:
            await consumer.handle(client, [event])
            done.append(message.msg_id)
        except APIError as err:
            log.warning("consumer.message_failed", queue=consumer.queue, msg_id=message.msg_id,
                        read_ct=message.read_ct, error=err.message)
    return done


async def handle(client: QueueClient, consumer: Consumer, messages: list[Message],
                 max_reads: int) -> tuple[BatchReport, list[int]]:
    """Dead-letter and handle a batch already read; the report and the ids to acknowledge (not yet acknowledged)."""
    report = BatchReport(consumer.queue, read=len(messages))
    worn = [m.msg_id for m in messages if m.read_ct > max_reads]
    if worn:
        moved = await client.dead_letter(consumer.queue, worn, f"read more than {max_reads} times")
        report.dead_lettered += len(moved)
    batch = []
    for message in messages:
        if message.read_ct > max_reads:
            continue
        try:
            batch.append((message, consumer.model.model_validate(message.message)))
        except ValidationError as err:
            reason = f"does not fit {consumer.model.__name__}: {err.errors()[0]['msg']}"
            report.dead_lettered += len(await client.dead_letter(consumer.queue, [message.msg_id], reason))
    done = await _handled_ids(client, consumer, batch) if batch else []
    report.handled = len(done)
    report.left = len(batch) - len(done)
    log.info("consumer.batch", **report.as_dict())
    return report, done


async def process(client: QueueClient, consumer: Consumer, messages: list[Message], max_reads: int) -> BatchReport:
    """Handle a batch already read and acknowledge what was handled, in one call (see the module docstring)."""
    report, done = await handle(client, consumer, messages, max_reads)
    if done:
        await client.acknowledge(consumer.queue, done, consumer.archive)
    return report


async def drain_once(client: QueueClient, consumer: Consumer, settings: BatchSettings) -> BatchReport:
    """Read one batch under the visibility timeout and handle it: what a cron tick does."""
    messages = await client.read(consumer.queue, settings.visibility_seconds, settings.batch_size)
    return await process(client, consumer, messages, settings.max_reads)
