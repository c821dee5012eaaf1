"""The guarantees of the schema and the worker, shown against the real stack rather than named.

Each function performs one small experiment and returns plain rows for the notebook to print: webhooks
that are not genuine (forged, replayed) are refused by the running worker, the anon key alone cannot write
results nor submit a job, a full queue refuses a submit, and a PGMQ read leases a message only until its
visibility timeout runs out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import structlog
from postgrest.exceptions import APIError
from psycopg.rows import dict_row
from supabase import Client, ClientOptions, create_client

from jobqueue import jobs, queries
from jobqueue.job_requests import QueueFull
from jobqueue.settings import Settings, webhook_key

log = structlog.get_logger(__name__)

Row = dict[str, Any]
INSUFFICIENT_PRIVILEGE = "42501"
PROBE_TASK = "signature-check"


def signed_headers(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, signed as the database's ``jobqueue_private.deliver`` signs."""
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {"content-type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(digest).decode()}


def probe_delivery() -> bytes:
    """A webhook body for a job that does not exist: a random ``job_id`` and a ``msg_id`` no queue holds."""
    return json.dumps({"msg_id": 2**52 + secrets.randbelow(2**52), "job_id": str(uuid.uuid4()),
                       "task_name": PROBE_TASK}).encode()


def _post(hook_url: str, attempt: str, headers: dict[str, str], body: bytes) -> Row:
    response = httpx.post(hook_url, content=body, headers=headers, timeout=10.0)
    try:
        answer = response.json()
    except ValueError:
        answer = response.text
    return {"delivery": attempt, "status": response.status_code, "worker answered": answer}


def webhook_checks(settings: Settings, hook_url: str, body: bytes) -> list[Row]:
    """POST four deliveries of ``body`` to the worker: genuine (202), the same again (401 replay), signed with
    another key (401 forged), and a genuine signature over an altered body (401 tampered)."""
    key = webhook_key(settings.webhook_secret)
    now = int(time.time())
    genuine = signed_headers(key, f"msg_probe_{uuid.uuid4().hex}", now, body)
    forged = signed_headers(secrets.token_bytes(len(key)), f"msg_probe_{uuid.uuid4().hex}", now, body)
    fresh = signed_headers(key, f"msg_probe_{uuid.uuid4().hex}", now, body)
    tampered = body.replace(PROBE_TASK.encode(), b"something-else")
    return [
        _post(hook_url, "signed with WEBHOOK_SECRET", genuine, body),
        _post(hook_url, "the same delivery again", genuine, body),
        _post(hook_url, "signed with another key", forged, body),
        _post(hook_url, "body changed after signing", fresh, tampered),
    ]


def worker_log_about(log_path: str, body: bytes, last_event: str = "job.skipped",
                     deadline_seconds: float = 10.0) -> list[str]:
    """The worker's log lines about the job in ``body``, once one mentions ``last_event`` (or at the deadline):
    the worker answers 202 first and claims in the background."""
    job_id = json.loads(body)["job_id"]
    deadline = time.monotonic() + deadline_seconds
    while True:
        with open(log_path, errors="replace") as log_file:
            lines = [line.rstrip() for line in log_file if job_id in line]
        if any(last_event in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def _refused_with_the_anon_key(settings: Settings, request: str, attempt: Callable[[Client], object]) -> Row:
    """Run ``attempt`` with a client holding the anon key alone (supabase-py, as a browser would); the HTTP status
    and PostgREST error that refused it."""
    statuses: list[int] = []
    http = httpx.Client(event_hooks={"response": [lambda response: statuses.append(response.status_code)]})
    client = create_client(settings.supabase_url, settings.anon_key, ClientOptions(httpx_client=http))
    try:
        attempt(client)
    except APIError as err:
        if err.code != INSUFFICIENT_PRIVILEGE:
            raise
        return {"request": f"{request} (anon key)", "http_status": statuses[-1], "code": err.code,
                "message": err.message, "hint": err.hint or ""}
    finally:
        http.close()
    raise RuntimeError(f"the anon key alone got through {request}: the grants are wrong, provision again")


def anon_write_refused(settings: Settings) -> Row:
    """Insert a finished job straight into ``job_results`` with the anon key; the refusal."""
    return _refused_with_the_anon_key(settings, "POST /rest/v1/job_results", lambda client: client.table(
        "job_results").insert({"task_name": "written directly", "status": "completed"}).execute())


def anon_submit_refused(settings: Settings) -> Row:
    """Call ``submit_job`` with the anon key and no sign-in; the refusal, which says to sign in."""
    return _refused_with_the_anon_key(settings, "POST /rest/v1/rpc/submit_job", lambda client: client.rpc(
        "submit_job", {"task_name": "no user"}).execute())


def refused_when_full(settings: Settings) -> Row:
    """Lower ``max_waiting_jobs`` to 0 for one submit by a signed-in visitor (as a browser would), then put it back:
    ``submit_job`` refuses with PT429 (HTTP 429) and a hint, and nothing is queued."""
    bound = {"key": "max_waiting_jobs"}
    with psycopg.connect(settings.db_url, autocommit=True, row_factory=dict_row) as conn:
        before = conn.execute(queries.SETTING_VALUE, bound).fetchone()
        if before is None:
            raise RuntimeError("jobqueue_private.settings has no max_waiting_jobs: run provision()")
        conn.execute(queries.WRITE_SETTING, {**bound, "value": "0"})
        try:
            job = jobs.enqueue_job("echo", task_name="one-too-many", settings=settings)
        except QueueFull as err:
            return {"max_waiting_jobs": f"0 (for this submit; back to {before['value']})",
                    "submit_job answered": f"PT429: {err}", "hint": err.hint}
        finally:
            conn.execute(queries.WRITE_SETTING, {**bound, "value": before["value"]})
    raise RuntimeError(f"submit_job queued job {job.job_id} although the queue was full")


def _read(conn: psycopg.Connection[Row], queue: str, vt_seconds: int) -> Row | None:
    return conn.execute(queries.READ_MESSAGE, {"queue": queue, "vt": vt_seconds}).fetchone()


def _event(started: float, call: str, message: Row | None) -> Row:
    got = "nothing (invisible)" if message is None else f"msg {message['msg_id']}, read_ct {message['read_ct']}"
    return {"after_s": round(time.monotonic() - started, 2), "call": call, "result": got}


def lease_timeline(settings: Settings, queue: str, vt_seconds: int = 2, deadline_seconds: float = 30.0) -> list[Row]:
    """On a scratch queue: send one message, read it with a ``vt_seconds`` lease, read again at once (nothing),
    then keep reading until it is visible again; the queue is dropped afterwards. Returns the timeline."""
    call = f"pgmq.read('{queue}', vt => {vt_seconds})"
    with psycopg.connect(settings.db_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(queries.CREATE_QUEUE, {"queue": queue})
        try:
            conn.execute(queries.SEND_MESSAGE, {"queue": queue, "message": json.dumps({"hello": "pgmq"})})
            started = time.monotonic()
            timeline = [_event(started, call, _read(conn, queue, vt_seconds)),
                        _event(started, call, _read(conn, queue, vt_seconds))]
            while (again := _read(conn, queue, vt_seconds)) is None:
                if time.monotonic() - started > deadline_seconds:
                    raise TimeoutError(f"the message did not become visible again within {deadline_seconds} s")
                time.sleep(0.1)
            timeline.append(_event(started, call, again))
        finally:
            conn.execute(queries.DROP_QUEUE, {"queue": queue})
    log.info("guarantees.lease_shown", queue=queue, vt_seconds=vt_seconds)
    return timeline
