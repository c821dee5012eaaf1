"""Step 6: failure. A poison message (an analytics event for a post that does not exist: its insert fails every
time) goes to ``analytics_dlq`` once its reads pass the limit; once the post exists, ``replay_dead_letters`` sends
it back and it is consumed. Then the retention job: archived messages past their queue's retention are deleted."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from psycopg.types.json import Jsonb

from jobqueue.lab import queries
from jobqueue.lab.db import Row, rows
from jobqueue.lab.fanout import new_post
from jobqueue.settings import Settings


def send_poison(settings: Settings) -> dict[str, str]:
    """An analytics event naming a post that does not exist; its event id and post id."""
    event = {"event_id": str(uuid.uuid4()), "event": "like", "post_id": str(uuid.uuid4()),
             "session_id": "poison", "timestamp": datetime.now(UTC).isoformat()}
    rows(settings, queries.SEND_ANALYTICS, {"message": Jsonb(event)})
    return {"event_id": event["event_id"], "post_id": event["post_id"]}


def dead_letters(settings: Settings) -> list[Row]:
    """What ``analytics_dlq`` holds: each dead letter's event, reason and reads."""
    return rows(settings, queries.DEAD_LETTERS)


def written(settings: Settings, event_id: str) -> bool:
    """Whether the analytics consumer wrote the event."""
    return rows(settings, queries.ANALYTICS_EVENT, {"event_id": event_id})[0]["count"] == 1


def replay(settings: Settings, poison: dict[str, str]) -> int:
    """Fix the cause (create the missing post), then send the dead letters back to ``analytics``."""
    new_post(settings, "the post the poison named", post_id=poison["post_id"])
    return rows(settings, queries.REPLAY)[0]["replay_dead_letters"]


def archive_counts(settings: Settings) -> list[Row]:
    """Messages in each queue's archive and the oldest one's time."""
    return rows(settings, queries.ARCHIVE_COUNTS)


def age_archive(settings: Settings, days: int, count: int) -> None:
    """Move the archive time of ``count`` archived analytics messages ``days`` into the past (time travel, so the
    retention job has something to trim today)."""
    rows(settings, queries.AGE_ARCHIVE, {"days": days, "count": count})


def trim(settings: Settings) -> list[Row]:
    """Run the retention job's statement now; what it deleted from the three queues' archives."""
    return rows(settings, queries.TRIM, {"queues": list(queries.LAB_QUEUES)})


async def until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` (a quick query) every 0.2 s until it holds; TimeoutError naming ``what`` after
    ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
        await asyncio.sleep(0.2)
