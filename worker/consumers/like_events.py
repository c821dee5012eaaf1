"""``process-like-events``: the per-post like counters, from the rich like events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from worker.consumers.consumer import Consumer
from worker.consumers.queue_client import QueueClient


class LikeEvent(BaseModel):
    """The fields of ``toggle_post_like``'s like event that the counters need."""

    model_config = ConfigDict(extra="allow")

    event_id: UUID
    event_type: Literal["like", "unlike"]
    event_value: Literal[1, -1]
    post_id: UUID
    timestamp: datetime


async def handle(client: QueueClient, events: Sequence[LikeEvent]) -> None:
    """Add the batch to the counters in one transaction; ``apply_like_events`` skips events it applied before."""
    await client.rpc("apply_like_events", {"events": [e.model_dump(mode="json") for e in events]})


CONSUMER = Consumer("like_events", LikeEvent, handle)
