"""Fixtures of the queues lab's tests (a pytest plugin module): the consumers' cron jobs paused and the lab's
queues emptied, so that only a test drains them."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from jobqueue.settings import Settings

LAB_QUEUES = ("like_events", "notifications", "analytics", "lab_noop")


@pytest.fixture(scope="module")
def paused(provisioned: Settings) -> Iterator[Settings]:
    """Pause the consumers' cron jobs; restore their schedules afterwards."""
    with psycopg.connect(provisioned.db_url, autocommit=True) as conn:
        saved = conn.execute("select queue_name, schedule from jobqueue_private.queue_consumers").fetchall()
        conn.execute("update jobqueue_private.queue_consumers set schedule = null")
        conn.execute("select jobqueue_private.schedule_queue_consumers()")
        try:
            yield provisioned
        finally:
            for queue, schedule in saved:
                conn.execute("update jobqueue_private.queue_consumers set schedule = %s where queue_name = %s",
                             (schedule, queue))
            conn.execute("select jobqueue_private.schedule_queue_consumers()")


@pytest.fixture
def lab(paused: Settings, db: psycopg.Connection) -> psycopg.Connection:
    """The database with the lab's queues and their DLQs empty."""
    for queue in LAB_QUEUES:
        db.execute("select pgmq.purge_queue(%s), pgmq.purge_queue(%s)", (queue, f"{queue}_dlq"))
    return db
