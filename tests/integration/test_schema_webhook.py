"""The webhook (signed pg_net request per message) and the sweeper that re-delivers what nobody claimed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from jobqueue.provision import provision
from jobqueue.settings import Settings, webhook_key
from supabase_local.state import free_port
from tests.schema_helpers import call, expire_lease, submit

pytestmark = pytest.mark.usefixtures("provisioned")

DELIVERY = """
select d.deliveries, d.last_request_id, r.method, r.url, r.headers, r.body
from jobqueue_private.deliveries d left join net.http_request_queue r on r.id = d.last_request_id
where d.msg_id = %(m)s
"""


def signature(settings: Settings, webhook_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_key(settings.webhook_secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def deliveries(db: psycopg.Connection, msg_id: int) -> int:
    rows = call(db, DELIVERY, {"m": msg_id})
    return rows[0]["deliveries"] if rows else 0


def delivered_ago(db: psycopg.Connection, msg_id: int, seconds: int) -> None:
    """Move the message's last delivery ``seconds`` into the past."""
    call(db, "update jobqueue_private.deliveries set last_delivered_at = now() - make_interval(secs => %(s)s) "
             "where msg_id = %(m)s", {"m": msg_id, "s": seconds})


def sweep(db: psycopg.Connection) -> int:
    return call(db, "select public.sweep_work_queue() as n")[0]["n"]


def test_submit_queues_a_signed_webhook(db, provisioned):
    with db.transaction(force_rollback=True):
        job = submit(db, "signed délivery")
        request = call(db, DELIVERY, {"m": job["msg_id"]})[0]
        body_text = call(db, "select jsonb_build_object('msg_id', %(m)s::bigint, 'job_id', %(j)s::uuid, "
                             "'task_name', %(t)s::text, 'job_type', 'echo', 'priority', 0)::text as t",
                         {"m": job["msg_id"], "j": job["job_id"], "t": "signed délivery"})[0]["t"]
        worker_url = call(db, "select jobqueue_private.setting('worker_url') as url")[0]["url"]
    body = bytes(request["body"])
    assert (request["method"], request["url"]) == ("POST", worker_url)
    assert body == body_text.encode()
    assert json.loads(body) == {"msg_id": job["msg_id"], "job_id": str(job["job_id"]), "task_name": "signed délivery",
                                "job_type": "echo", "priority": 0}
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["webhook-id"].startswith(f"msg_{job['msg_id']}_")
    assert headers["webhook-timestamp"].isdigit()
    assert headers["webhook-signature"] == signature(provisioned, headers["webhook-id"],
                                                     headers["webhook-timestamp"], body)


def test_each_delivery_has_its_own_webhook_id(db):
    job = submit(db)
    first = call(db, DELIVERY, {"m": job["msg_id"]})[0]
    delivered_ago(db, job["msg_id"], 3600)
    sweep(db)
    second = call(db, DELIVERY, {"m": job["msg_id"]})[0]
    assert second["last_request_id"] != first["last_request_id"]
    if first["headers"] and second["headers"]:
        assert second["headers"]["webhook-id"] != first["headers"]["webhook-id"]


def test_sweeper_leaves_a_fresh_delivery_alone(db):
    job = submit(db)
    sweep(db)
    assert deliveries(db, job["msg_id"]) == 1


def test_sweeper_redelivers_an_unclaimed_message(db):
    job = submit(db)
    delivered_ago(db, job["msg_id"], 3600)
    sweep(db)
    assert deliveries(db, job["msg_id"]) >= 2


def test_sweeper_redelivers_after_a_lease_expires(db):
    job = submit(db)
    call(db, "select * from public.mark_job_processing(%(j)s, %(m)s, 60)", {"j": job["job_id"], "m": job["msg_id"]})
    sweep(db)
    assert deliveries(db, job["msg_id"]) == 1
    delivered_ago(db, job["msg_id"], 5)  # delivered 5 s ago, well inside the quiet period ...
    expire_lease(db, job["msg_id"])  # ... claimed, and the lease ran out 1 s ago
    sweep(db)
    assert deliveries(db, job["msg_id"]) >= 2


def test_sweeper_dead_letters_a_job_out_of_attempts(db):
    job = submit(db, "worker keeps dying")
    call(db, "select * from public.mark_job_processing(%(j)s, %(m)s, 60)", {"j": job["job_id"], "m": job["msg_id"]})
    call(db, "update job_results set attempts = jobqueue_private.max_attempts() where job_id = %(j)s",
         {"j": job["job_id"]})
    delivered_ago(db, job["msg_id"], 5)
    expire_lease(db, job["msg_id"])
    sweep(db)
    row = call(db, "select status, error from job_results where job_id = %(j)s", {"j": job["job_id"]})[0]
    assert row["status"] == "failed"
    assert "attempts" in row["error"]
    letters = call(db, "select count(*) as n from pgmq.q_work_queue_dlq where message->>'job_id' = %(j)s",
                   {"j": str(job["job_id"])})
    assert letters[0]["n"] == 1


def test_cron_runs_the_sweeper_every_ten_seconds(db):
    [job_row] = call(db, "select schedule, command from cron.job where jobname = 'work_queue_sweeper'")
    assert job_row == {"schedule": "10 seconds", "command": "select public.sweep_work_queue()"}
    job = submit(db, "lost request")
    delivered_ago(db, job["msg_id"], 3600)
    deadline = time.monotonic() + 60
    while deliveries(db, job["msg_id"]) < 2:
        assert time.monotonic() < deadline, "the cron job did not re-deliver the message within 60 s"
        time.sleep(0.5)


class _Receiver(BaseHTTPRequestHandler):
    received: queue.Queue

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.put((self.path, dict(self.headers), body))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def receiver(provisioned) -> Iterator[tuple[Settings, queue.Queue]]:
    """A loopback HTTP server standing in for the worker; provisioned settings are restored afterwards."""
    received: queue.Queue = queue.Queue()
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = replace(provisioned, worker_url=f"http://127.0.0.1:{server.server_port}/hooks/work-queue")
    provision(settings)
    try:
        yield settings, received
    finally:
        provision(provisioned)
        server.shutdown()
        thread.join()


def test_webhook_arrives_signed_at_the_worker_url(db, receiver):
    settings, received = receiver
    job = submit(db, "over the wire")
    path, headers, body = received.get(timeout=30)
    headers = {key.lower(): value for key, value in headers.items()}
    assert path == "/hooks/work-queue"
    assert json.loads(body) == {"msg_id": job["msg_id"], "job_id": str(job["job_id"]), "task_name": "over the wire",
                                "job_type": "echo", "priority": 0}
    assert headers["webhook-signature"] == signature(settings, headers["webhook-id"], headers["webhook-timestamp"],
                                                     body)
