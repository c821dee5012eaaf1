"""``lab_noop``: messages that ask for no work, to compare what each drain itself costs; archived, so that
``archived_at - enqueued_at`` is each one's latency."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from worker.consumers.consumer import Consumer
from worker.consumers.queue_client import QueueClient


class NoopEvent(BaseModel):
    """Any JSON object."""

    model_config = ConfigDict(extra="allow")


async def handle(client: QueueClient, events: Sequence[NoopEvent]) -> None:
    """Nothing to do: the batch is acknowledged as it is."""


CONSUMER = Consumer("lab_noop", NoopEvent, handle)
