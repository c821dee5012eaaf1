"""``process-analytics``: one batch insert of up to a batch's events into ``analytics_events``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from worker.consumers.consumer import Consumer
from worker.consumers.queue_client import QueueClient


class AnalyticsEvent(BaseModel):
    """The seed's analytics message, plus its ``event_id`` (the row's id, so a second insert is skipped)."""

    model_config = ConfigDict(extra="allow")

    event_id: UUID
    event: str = Field(min_length=1, max_length=100)
    post_id: UUID | None = None
    session_id: str | None = None
    profile_id: UUID | None = None
    timestamp: datetime


async def handle(client: QueueClient, events: Sequence[AnalyticsEvent]) -> None:
    """Insert the events not inserted before, the whole message kept as metadata (as the seed does)."""
    await client.insert_new("analytics_events", [
        {"id": str(e.event_id), "event_type": e.event, "post_id": e.post_id and str(e.post_id),
         "session_id": e.session_id, "profile_id": e.profile_id and str(e.profile_id),
         "metadata": e.model_dump(mode="json"), "created_at": e.timestamp.isoformat()} for e in events])


CONSUMER = Consumer("analytics", AnalyticsEvent, handle)
