"""``process-notifications``: an in-app notification row per ``new_like`` message."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from worker.consumers.consumer import Consumer
from worker.consumers.queue_client import QueueClient


class NotificationEvent(BaseModel):
    """The seed's notification message, plus its ``event_id`` (the notification's id)."""

    model_config = ConfigDict(extra="allow")

    event_id: UUID
    type: str = Field(min_length=1, max_length=100)
    recipient_id: UUID


async def handle(client: QueueClient, events: Sequence[NotificationEvent]) -> None:
    """Write the notifications not written before; email and push would go out from here."""
    await client.insert_new("notifications", [
        {"id": str(e.event_id), "recipient_id": str(e.recipient_id), "type": e.type,
         "data": e.model_dump(mode="json")} for e in events])


CONSUMER = Consumer("notifications", NotificationEvent, handle)
