"""The consumers as the seed runs them, through a real worker process: pg_cron and pg_net call the endpoints with
the bearer from Vault, two overlapping calls never handle one message twice, and ``--consume`` long-polls."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from jobqueue.settings import PROJECT_ROOT, Settings, webhook_key
from jobqueue.worker_process import worker_env
from tests.queues_lab_support import like_many, new_post
from tests.worker_support import WorkerHandle, wait_until
from worker.consumers.token import consumer_token

pytest_plugins = ("tests.queues_lab_fixtures",)


@pytest.fixture(scope="module")
def worker(paused: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:
    with WorkerHandle.running(paused, tmp_path_factory.mktemp("worker")) as handle:
        yield handle


def endpoint(worker: WorkerHandle, queue: str) -> str:
    return f"http://127.0.0.1:{worker.port}/hooks/consumers/{queue}"


def bearer(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {consumer_token(webhook_key(settings.webhook_secret))}"}


@pytest.mark.parametrize(("queue", "headers", "body", "status"), [
    ("analytics", {}, b"{}", 401),
    ("analytics", {"Authorization": "Bearer not-the-token"}, b"{}", 401),
    ("work_queue", None, b"{}", 404),
    ("analytics", None, b"[1]", 400),
    ("analytics", None, b'{"batch_size": 0}', 400),
    ("analytics", None, b'{"batch_size": 10, "extra": 1}', 400),
    ("analytics", None, b"not json", 400),
])
def test_the_endpoint_refuses_what_is_not_a_cron_call(lab, worker, queue, headers, body, status):
    response = httpx.post(endpoint(worker, queue), content=body,
                          headers=bearer(worker.settings) if headers is None else headers)
    assert response.status_code == status, response.text
    assert "error" in response.json()


def responses(db: psycopg.Connection, request_ids: list[int]) -> list[tuple[int, dict]]:
    found = db.execute("select status_code, content from net._http_response where id = any(%s) order by id",
                       (request_ids,)).fetchall()
    return [(code, json.loads(content) if code == 200 else content) for code, content in found]


def test_a_cron_call_through_pg_net_drains_one_batch(lab, worker):
    post = new_post(lab)
    like_many(lab, post, 150)
    request_id = lab.execute("select jobqueue_private.call_queue_consumer('analytics')").fetchone()[0]
    wait_until(lambda: len(responses(lab, [request_id])) == 1, "the consumer's answer")
    [(status, report)] = responses(lab, [request_id])
    assert status == 200, report
    assert report == {"queue": "analytics", "read": 100, "handled": 100, "dead_lettered": 0, "left": 0}
    assert lab.execute("select count(*) from public.analytics_events where post_id = %s", (post,)).fetchone()[0] == 100


def test_two_overlapping_cron_calls_never_handle_one_message_twice(lab, worker):
    post = new_post(lab)
    like_many(lab, post, 300)
    with lab.transaction():  # both requests leave when this commits, and run at once
        ids = [lab.execute("select jobqueue_private.call_queue_consumer('like_events')").fetchone()[0]
               for _ in range(2)]
    wait_until(lambda: len(responses(lab, ids)) == 2, "both answers")
    reports = [report for status, report in responses(lab, ids) if status == 200]
    assert [r["handled"] for r in reports] == [100, 100]
    archived = lab.execute("select msg_id, read_ct from pgmq.a_like_events where message->>'post_id' = %s",
                           (post,)).fetchall()
    assert len(archived) == len({msg_id for msg_id, _ in archived}) == 200
    assert {read_ct for _, read_ct in archived} == {1}
    assert lab.execute("select count(*) from pgmq.q_like_events where read_ct = 0").fetchone()[0] == 100
    assert lab.execute("select likes from public.post_like_counters where post_id = %s", (post,)).fetchone() == (200,)


def test_the_cron_schedule_calls_the_consumer_by_itself(lab, worker):
    post = new_post(lab)
    like_many(lab, post, 5)
    lab.execute("update jobqueue_private.queue_consumers set schedule = '1 seconds' where queue_name = 'notifications'")
    lab.execute("select jobqueue_private.schedule_queue_consumers()")
    try:
        wait_until(lambda: lab.execute("select count(*) from public.notifications where data->>'post_id' = %s",
                                       (post,)).fetchone()[0] == 5, "five notifications written by the cron job")
    finally:
        lab.execute("update jobqueue_private.queue_consumers set schedule = null where queue_name = 'notifications'")
        lab.execute("select jobqueue_private.schedule_queue_consumers()")


def consume(settings: Settings, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "worker", "--consume", *args], cwd=PROJECT_ROOT,
                                env={**os.environ, **worker_env(settings), "LOG_FORMAT": "json"}, stdout=out,
                                stderr=subprocess.STDOUT)


def test_the_continuous_consumer_long_polls_and_stops_on_sigterm(lab, paused, tmp_path):
    log = tmp_path / "consumer.log"
    process = consume(paused, "analytics", "--batch", "20", "--vt", "10", log=log)
    try:
        post = new_post(lab)
        wait_until(lambda: "consumer.started" in log.read_text(), "the consumer to start")
        like_many(lab, post, 45)
        wait_until(lambda: lab.execute("select count(*) from public.analytics_events where post_id = %s",
                                       (post,)).fetchone()[0] == 45, "45 analytics events")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    stopped = [json.loads(line) for line in log.read_text().splitlines() if '"consumer.stopped"' in line]
    assert stopped and stopped[0]["handled"] == 45, log.read_text()


@pytest.mark.parametrize(("args", "problem"), [
    (["work_queue"], "no consumer for queue 'work_queue'"),
    (["analytics", "--batch", "0"], "--batch"),
    (["analytics", "--vt", "0"], "--vt"),
])
def test_the_continuous_consumer_refuses_bad_arguments(paused, tmp_path, args, problem):
    log = tmp_path / "consumer.log"
    assert consume(paused, *args, log=log).wait(timeout=30) == 2
    assert problem in log.read_text()
