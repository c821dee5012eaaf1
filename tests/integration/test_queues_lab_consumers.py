"""The batch consumers against the real stack: one read and one acknowledgement per batch, effects written once
however often a batch is delivered, dead letters after the read limit, and bad messages dead-lettered at once.
The cron schedules are paused here so that only the tests drain the queues."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from jobqueue.settings import Settings
from tests.queues_lab_support import like_many, new_post
from worker.consumers import analytics, like_events, noop, notifications
from worker.consumers.batch import drain_once
from worker.consumers.messages import BatchSettings
from worker.consumers.queue_client import QueueClient

pytest_plugins = ("tests.queues_lab_fixtures",)


class CountingClient(QueueClient):
    """The real client, counting its calls by name; ``fail_acknowledge`` makes the next acknowledgement fail
    as a crash between the effect and the acknowledgement would."""

    calls: Counter[str]
    fail_acknowledge = False

    async def read(self, *args: Any) -> Any:
        self.calls["read"] += 1
        return await super().read(*args)

    async def acknowledge(self, *args: Any) -> Any:
        self.calls["acknowledge"] += 1
        if self.fail_acknowledge:
            self.fail_acknowledge = False
            raise httpx.ConnectError("the consumer died before its acknowledgement")
        return await super().acknowledge(*args)

    async def insert_new(self, *args: Any) -> Any:
        self.calls["insert_new"] += 1
        return await super().insert_new(*args)

    async def rpc(self, *args: Any) -> Any:
        self.calls["rpc"] += 1
        return await super().rpc(*args)


@pytest.fixture
async def client(paused: Settings) -> AsyncIterator[CountingClient]:
    connected = await CountingClient.connect(paused.supabase_url, paused.service_role_key)
    connected.calls = Counter()
    yield connected
    await connected.close()


def analytics_rows(db: psycopg.Connection, post: str) -> int:
    return db.execute("select count(*) from public.analytics_events where post_id = %s", (post,)).fetchone()[0]


def expire(db: psycopg.Connection, queue: str) -> None:
    db.execute(f"update pgmq.q_{queue} set vt = clock_timestamp()")  # noqa: S608 (a fixed queue name)


async def test_a_batch_of_100_costs_one_read_one_insert_and_one_acknowledgement(lab, client):
    post = new_post(lab)
    like_many(lab, post, 100)
    report = await drain_once(client, analytics.CONSUMER, BatchSettings(batch_size=100))
    assert (report.read, report.handled, report.dead_lettered, report.left) == (100, 100, 0, 0)
    assert client.calls == Counter({"read": 1, "insert_new": 1, "acknowledge": 1})
    assert analytics_rows(lab, post) == 100
    assert lab.execute("select count(*) from pgmq.q_analytics").fetchone()[0] == 0
    assert lab.execute("select count(*) from pgmq.a_analytics where message->>'post_id' = %s",
                       (post,)).fetchone()[0] == 100


async def test_a_batch_delivered_again_after_a_crash_writes_nothing_twice(lab, client):
    post = new_post(lab)
    like_many(lab, post, 30)
    client.fail_acknowledge = True
    with pytest.raises(httpx.ConnectError):
        await drain_once(client, like_events.CONSUMER, BatchSettings(batch_size=100))
    assert lab.execute("select count(*) from pgmq.q_like_events").fetchone()[0] == 30
    expire(lab, "like_events")
    report = await drain_once(client, like_events.CONSUMER, BatchSettings(batch_size=100))
    assert report.handled == 30
    counters = lab.execute("select likes, unlikes, net from public.post_like_counters where post_id = %s",
                           (post,)).fetchone()
    assert counters == (30, 0, 30)

    like_many(lab, post, 30)  # the same sessions again: thirty unlikes
    for consumer in (analytics.CONSUMER, like_events.CONSUMER):
        client.fail_acknowledge = True
        with pytest.raises(httpx.ConnectError):
            await drain_once(client, consumer, BatchSettings(batch_size=100))
        expire(lab, consumer.queue)
        await drain_once(client, consumer, BatchSettings(batch_size=100))
    assert analytics_rows(lab, post) == 60
    assert lab.execute("select likes, unlikes, net from public.post_like_counters where post_id = %s",
                       (post,)).fetchone() == (30, 30, 0)


async def test_a_message_that_keeps_failing_goes_to_the_dlq_after_the_read_limit(lab, client):
    """An analytics event for a post that does not exist fails its insert; its batch-mates are not held back."""
    post = new_post(lab)
    like_many(lab, post, 4)
    poison = {"event_id": str(uuid.uuid4()), "event": "like", "post_id": str(uuid.uuid4()),
              "timestamp": "2026-12-05T08:00:00Z"}
    lab.execute("select pgmq.send('analytics', %s)", (Jsonb(poison),))
    settings = BatchSettings(batch_size=100, max_reads=2)
    reports = []
    for _ in range(3):
        reports.append(await drain_once(client, analytics.CONSUMER, settings))
        expire(lab, "analytics")
    assert [(r.handled, r.left, r.dead_lettered) for r in reports] == [(4, 1, 0), (0, 1, 0), (0, 0, 1)]
    assert analytics_rows(lab, post) == 4
    [(letter,)] = lab.execute("select message from pgmq.q_analytics_dlq").fetchall()
    assert letter["event_id"] == poison["event_id"]
    assert letter["dead_letter"]["read_ct"] == 3 and letter["dead_letter"]["reason"] == "read more than 2 times"


async def test_a_message_that_fits_no_event_goes_to_the_dlq_at_once(lab, client):
    lab.execute("select pgmq.send('like_events', %s)", (Jsonb({"event_type": "share"}),))
    report = await drain_once(client, like_events.CONSUMER, BatchSettings())
    assert (report.read, report.dead_lettered, report.handled) == (1, 1, 0)
    [(letter,)] = lab.execute("select message from pgmq.q_like_events_dlq").fetchall()
    assert letter["dead_letter"]["reason"].startswith("does not fit LikeEvent")


async def test_notifications_are_written_once_per_like(lab, client):
    post = new_post(lab)
    like_many(lab, post, 3)
    like_many(lab, post, 3)  # unlikes notify nobody
    report = await drain_once(client, notifications.CONSUMER, BatchSettings(batch_size=10))
    assert report.handled == 3
    owner = lab.execute("select profile_id from public.posts where id = %s", (post,)).fetchone()[0]
    rows = lab.execute("select type, data->>'post_id' from public.notifications where recipient_id = %s",
                       (owner,)).fetchall()
    assert rows == [("new_like", post)] * 3


async def test_no_op_messages_are_archived_in_one_call_per_batch(lab, client):
    lab.execute("delete from pgmq.a_lab_noop")
    lab.execute("select pgmq.send_batch('lab_noop', array_fill('{}'::jsonb, array[250]))")
    totals = [await drain_once(client, noop.CONSUMER, BatchSettings(batch_size=100)) for _ in range(3)]
    assert [r.handled for r in totals] == [100, 100, 50]
    assert client.calls == Counter({"read": 3, "acknowledge": 3})
    assert lab.execute("select count(*) from pgmq.a_lab_noop").fetchone()[0] == 250
