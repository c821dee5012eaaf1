"""Fuzzing the webhook of a real worker process: bodies of every size and encoding, signatures absent, forged,
partial, stale or for another body. Properties: never a 5xx, never a hung connection, the worker stays healthy,
a delivery is accepted (202) only when it is signed, fresh and well formed, and nothing runs unless signed.

``FUZZ_EXAMPLES`` sets the examples per property (default 500; ``make fuzz`` runs more).
"""

from __future__ import annotations

import base64
import itertools
import json
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobqueue.settings import Settings, webhook_key
from jobqueue.worker_process import WorkerProcess, start_worker, stop_worker, worker_env
from supabase_local.state import free_port
from tests.fuzz_strategies import FUZZ, json_values
from worker.signature import sign

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]

BODY_CAP = 64 * 1024
TOLERANCE = 300
SIGNED_MODES = ("valid", "among_others")
MODES = (*SIGNED_MODES, "absent", "garbage", "wrong_key", "other_body", "truncated", "stale", "future",
         "timestamp_text", "no_id", "no_timestamp", "empty_signature", "v2_scheme")
_unique = itertools.count()


@dataclass
class Target:
    worker: WorkerProcess
    key: bytes
    client: httpx.Client
    real_job: tuple[int, str]
    signed_job_ids: set[str]


@pytest.fixture(scope="module")
def target(provisioned: Settings, fuzz_db: psycopg.Connection, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[Target]:
    """A worker on a port of its own (the database's webhooks go elsewhere) and one real pending job that
    only unsigned requests name."""
    port = free_port()
    env = worker_env(provisioned) | {"WORKER_PULL_IDLE_SECONDS": "0", "JOB_MIN_SECONDS": "0",
                                     "JOB_MAX_SECONDS": "0.01"}
    worker = start_worker(env, port=port, state_dir=tmp_path_factory.mktemp("fuzz-worker"))
    job_id, msg_id = fuzz_db.execute("select job_id, msg_id from public.submit_job('fuzz-untouched')").fetchone()
    with httpx.Client(timeout=5.0) as client:
        yield Target(worker, webhook_key(provisioned.webhook_secret), client, (int(msg_id), str(job_id)), set())
    stop_worker(worker)
    fuzz_db.execute("select pgmq.delete('work_queue', %s::bigint)", (msg_id,))
    fuzz_db.execute("delete from public.job_results where job_id = %s", (job_id,))


@pytest.fixture(scope="module")
def fuzz_db(provisioned: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(provisioned.db_url, autocommit=True) as conn:
        yield conn


def delivery(msg_id: int, job_id: str, task_name: str) -> bytes:
    return json.dumps({"msg_id": msg_id, "job_id": job_id, "task_name": task_name}).encode()


deliveries = st.builds(delivery, st.integers(1, 2**62), st.uuids().map(str), st.text(min_size=1, max_size=40))
bodies = st.one_of(
    deliveries.map(lambda body: ("delivery", body)),
    json_values.map(lambda value: ("other", json.dumps(value).encode())),
    st.binary(max_size=2048).map(lambda raw: ("other", raw)),
    st.builds(lambda body, enc: ("other", json.dumps(json.loads(body), ensure_ascii=False).encode(enc, "replace")),
              deliveries, st.sampled_from(["utf-8", "latin-1", "utf-16", "utf-32"])),
    st.integers(BODY_CAP - 64, BODY_CAP * 2).map(lambda n: ("other", b'{"pad":"' + b"x" * n + b'"}')),
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_characters="\x7f"), max_size=80)
content_types = st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1", ""])


def headers_for(mode: str, key: bytes, webhook_id: str, body: bytes, now: int) -> dict[str, bytes]:
    """The Standard Webhooks headers for ``mode``: signed correctly, or broken in one named way."""
    stamp = {"stale": now - TOLERANCE - 60, "future": now + TOLERANCE + 60}.get(mode, now)
    good = sign(key, webhook_id, stamp, body)
    signature = {
        "valid": good, "among_others": f"v1,{base64.b64encode(b'x' * 32).decode()} {good} v1a,zz",
        "garbage": "v1,not-base64!", "wrong_key": sign(b"another key", webhook_id, stamp, body),
        "other_body": sign(key, webhook_id, stamp, body + b" "), "truncated": good[: len(good) // 2],
        "empty_signature": "", "v2_scheme": "v2," + good[3:],
    }.get(mode, good)
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}
    if mode == "timestamp_text":
        headers["webhook-timestamp"] = f"{stamp}.5"
    for missing, name in (("absent", "webhook-signature"), ("no_id", "webhook-id"),
                          ("no_timestamp", "webhook-timestamp")):
        if mode == missing:
            del headers[name]
    return {name: value.encode("utf-8") for name, value in headers.items()}


def healthy(target: Target) -> bool:
    answer = target.client.get(f"{target.worker.url}/healthz")
    return answer.status_code == 200 and answer.json()["status"] == "ok"


@FUZZ
@given(body=bodies, mode=st.sampled_from(MODES), id_text=header_text, content_type=content_types,
       names_real_job=st.booleans())
def test_only_signed_fresh_well_formed_deliveries_are_accepted(target, body, mode, id_text, content_type,
                                                                 names_real_job):
    kind, raw = body
    signed = mode in SIGNED_MODES
    if names_real_job and not signed:
        kind, raw = "delivery", delivery(*target.real_job, "fuzz-untouched")
    webhook_id = f"{id_text}-{next(_unique)}"
    headers = headers_for(mode, target.key, webhook_id, raw, int(time.time()))
    if content_type:
        headers["content-type"] = content_type.encode()
    response = target.client.post(target.worker.hook_url, content=raw, headers=headers)
    assert response.status_code < 500, response.text
    # The server strips spaces around header values and reads them as latin-1: such an id no longer matches.
    genuine = signed and webhook_id.isascii() and webhook_id == webhook_id.strip()
    if len(raw) > BODY_CAP:
        assert response.status_code == 413
    elif not genuine:
        assert response.status_code == 401, (mode, response.text)
    elif kind == "delivery":
        assert response.status_code in (202, 429), response.text
        target.signed_job_ids.add(json.loads(raw)["job_id"])
    else:
        assert response.status_code in (202, 400, 429), response.text
    assert healthy(target)


@FUZZ
@given(body=deliveries)
def test_a_replayed_delivery_is_refused(target, body):
    headers = headers_for("valid", target.key, f"msg_replay_{uuid.uuid4().hex}", body, int(time.time()))
    first = target.client.post(target.worker.hook_url, content=body, headers=headers)
    again = target.client.post(target.worker.hook_url, content=body, headers=headers)
    assert first.status_code == 202 and again.status_code == 401, (first.text, again.text)
    target.signed_job_ids.add(json.loads(body)["job_id"])


@FUZZ
@given(declared=st.integers(1, 10**6), sent=st.binary(max_size=512), headers_only=st.booleans())
def test_a_request_cut_short_never_hangs_the_worker(target, declared, sent, headers_only):
    """A client that promises a body and goes away, or sends half the headers, costs nothing lasting."""
    request = (f"POST /hooks/work-queue HTTP/1.1\r\nhost: x\r\ncontent-length: {declared}\r\n"
               f"webhook-id: cut\r\n").encode()
    request += b"" if headers_only else b"\r\n" + sent
    with socket.create_connection(("127.0.0.1", target.worker.port), timeout=5) as conn:
        conn.sendall(request)
    assert healthy(target)


def uncaught(log: str) -> list[str]:
    """The exception line of every traceback in a worker log (an exception no handler caught)."""
    found = []
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("Traceback"):
            tail = next((later for later in lines[index + 1:] if not later.startswith(" ")), "")
            found.append(tail)
    return found


def test_a_body_cut_short_is_not_an_uncaught_exception(target):
    before = len(uncaught(Path(target.worker.log_path).read_text()))
    request = b"POST /hooks/work-queue HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"msg_id\""
    with socket.create_connection(("127.0.0.1", target.worker.port), timeout=5) as conn:
        conn.sendall(request)
    assert healthy(target)
    # The server notices the disconnect on its own schedule: give a traceback a moment to show up.
    end = time.monotonic() + 3
    while time.monotonic() < end and len(uncaught(Path(target.worker.log_path).read_text())) == before:
        time.sleep(0.05)
    assert uncaught(Path(target.worker.log_path).read_text())[before:] == []


def test_nothing_ran_unless_signed(target, fuzz_db):
    """Runs the fuzzed worker recorded name only jobs of signed deliveries; the real job was never claimed."""
    runs = target.client.get(f"{target.worker.url}/runs", params={"limit": 100_000}).json()["runs"]
    assert {run["job_id"] for run in runs} <= target.signed_job_ids
    status, attempts = fuzz_db.execute("select status, attempts from public.job_results where job_id = %s",
                                  (target.real_job[1],)).fetchone()
    assert (status, attempts) == ("pending", 0)
    assert uncaught(Path(target.worker.log_path).read_text()) == []
