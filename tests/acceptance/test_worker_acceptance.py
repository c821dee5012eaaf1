"""The worker as a real process against the real stack: delivery, crashes, forgeries, retries, shutdown.

Time is moved in SQL (a message's vt, a delivery's timestamp) and the sweeper is called directly, so no
test waits for a clock. Jobs take 0-50 ms unless a test needs them to be caught running.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from jobqueue.provision import provision
from jobqueue.settings import Settings, webhook_key
from tests.log_lines import event_lines
from tests.worker_support import (
    FAIL_PREFIX,
    WorkerHandle,
    archived_count,
    completed_runs,
    expire_leases,
    rows,
    submit,
    sweeper,
    wait_status,
    wait_until,
)
from worker.signature import sign

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def worker(provisioned: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:
    with WorkerHandle.running(provisioned, tmp_path_factory.mktemp("worker")) as handle:
        yield handle


@pytest.fixture
def fresh_worker(worker: WorkerHandle) -> Iterator[WorkerHandle]:
    """The worker restarted with default test settings, so its /runs holds only this test's runs."""
    worker.restart()
    yield worker
    if worker.process is None:
        worker.start()


@pytest.fixture
def undelivered(provisioned: Settings) -> Iterator[Callable[[], None]]:
    """While active, the database posts webhooks to a port where nothing listens (as if the worker were away)."""
    away = dataclasses.replace(provisioned, worker_url="http://127.0.0.1:9/hooks/work-queue")
    provision(away)
    yield lambda: provision(provisioned)
    provision(provisioned)


def post(handle: WorkerHandle, body: bytes, headers: dict[str, str]) -> httpx.Response:
    assert handle.process is not None
    return httpx.post(handle.process.hook_url, content=body, headers=headers, timeout=5)


def signed_headers(settings: Settings, body: bytes, webhook_id: str, timestamp: int | None = None,
                   key: bytes | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    signature = sign(key or webhook_key(settings.webhook_secret), webhook_id, stamp, body)
    return {"content-type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": str(stamp),
            "webhook-signature": signature}


def test_200_jobs_complete_exactly_once(db, fresh_worker):
    job_ids = submit(db, *(f"bulk-{n}" for n in range(200)))
    done = wait_status(db, job_ids, "completed")
    assert all(row["attempts"] == 1 and row["result"] and row["error"] is None for row in done.values())
    assert completed_runs(fresh_worker, job_ids) == Counter({job_id: 1 for job_id in job_ids})
    assert archived_count(db, job_ids) == Counter({job_id: 1 for job_id in job_ids})
    # Only this test's jobs: the session database may hold other tests' pending jobs that the sweeper
    # hands to this worker too.
    wanted = set(job_ids)
    outcomes = Counter(run["outcome"] for run in fresh_worker.runs() if run["job_id"] in wanted)
    assert outcomes == Counter({"completed": 200})


def test_sigkill_mid_job_then_restart_completes_each_job_once(db, fresh_worker):
    fresh_worker.restart(JOB_MIN_SECONDS="30", JOB_MAX_SECONDS="30")
    job_ids = submit(db, *(f"crash-{n}" for n in range(10)))
    wait_status(db, job_ids, "processing")
    fresh_worker.stop(force=True)
    fresh_worker.start()
    expire_leases(db, job_ids)
    done = wait_status(db, job_ids, "completed", between=sweeper(db))
    assert {row["attempts"] for row in done.values()} == {2}
    assert completed_runs(fresh_worker, job_ids) == Counter({job_id: 1 for job_id in job_ids})
    assert archived_count(db, job_ids) == Counter({job_id: 1 for job_id in job_ids})


def test_worker_down_when_the_webhook_fires_then_the_sweeper_delivers(db, fresh_worker):
    fresh_worker.stop()
    [job_id] = submit(db, "while-down")
    wait_until(lambda: db.execute("select count(*) from net._http_response r join jobqueue_private.deliveries d "
                                  "on d.last_request_id = r.id where d.job_id = %s", (job_id,)).fetchone()[0] == 1,
               "the failed webhook attempt")
    assert rows(db, [job_id])[job_id]["status"] == "pending"
    fresh_worker.start()
    wait_status(db, [job_id], "completed", between=sweeper(db))
    assert completed_runs(fresh_worker, [job_id]) == Counter({job_id: 1})


def test_pull_mode_serves_a_database_that_cannot_reach_the_worker(db, fresh_worker, undelivered):
    [job_id] = submit(db, "pulled")
    fresh_worker.restart(pull=True, WORKER_PULL_INTERVAL_SECONDS="0.1")
    done = wait_status(db, [job_id], "completed")
    assert done[job_id]["attempts"] == 1
    [run] = [run for run in fresh_worker.runs() if run["job_id"] == job_id]
    assert (run["source"], run["outcome"]) == ("pull", "completed")


def test_forged_requests_get_401_and_the_job_completes_via_a_good_delivery(db, fresh_worker, undelivered):
    settings = fresh_worker.settings
    [job_id] = submit(db, "forgery-target")
    msg_id = db.execute("select msg_id from pgmq.q_work_queue where message->>'job_id' = %s",
                        (job_id,)).fetchone()[0]
    body = json.dumps({"msg_id": msg_id, "job_id": job_id, "task_name": "forgery-target"}).encode()
    other = json.dumps({"msg_id": msg_id, "job_id": job_id, "task_name": "tampered"}).encode()
    now = int(time.time())
    forgeries = {
        "unsigned": (body, {"content-type": "application/json"}),
        "wrong key": (body, signed_headers(settings, body, "f-1", key=b"someone else's key")),
        "tampered": (other, signed_headers(settings, body, "f-2")),
        "stale": (body, signed_headers(settings, body, "f-3", timestamp=now - 600)),
        "future": (body, signed_headers(settings, body, "f-4", timestamp=now + 600)),
    }
    for what, (payload, headers) in forgeries.items():
        assert post(fresh_worker, payload, headers).status_code == 401, what
    assert rows(db, [job_id])[job_id]["status"] == "pending"
    undelivered()  # the database can reach the worker again; the sweeper re-delivers
    wait_status(db, [job_id], "completed", between=sweeper(db))
    genuine = signed_headers(settings, body, "replayed-id")
    assert post(fresh_worker, body, genuine).status_code == 202
    replay = post(fresh_worker, body, genuine)
    assert replay.status_code == 401 and "replay" in replay.json()["error"]
    assert completed_runs(fresh_worker, [job_id]) == Counter({job_id: 1})
    assert archived_count(db, [job_id]) == Counter({job_id: 1})


def test_malformed_bodies_get_400_and_the_message_stays_queued(db, fresh_worker, undelivered):
    settings = fresh_worker.settings
    [job_id] = submit(db, "malformed-neighbour")
    for n, body in enumerate([b"{not json", b"[]", json.dumps({"job_id": job_id, "task_name": "x"}).encode(),
                              json.dumps({"msg_id": 1, "job_id": "not-a-uuid", "task_name": "x"}).encode()]):
        response = post(fresh_worker, body, signed_headers(settings, body, f"malformed-{n}"))
        assert response.status_code == 400 and response.json()["error"]
    oversized = b"{" + b" " * 70_000 + b"}"
    assert post(fresh_worker, oversized, signed_headers(settings, oversized, "huge")).status_code == 413
    assert db.execute("select count(*) from pgmq.q_work_queue where message->>'job_id' = %s",
                      (job_id,)).fetchone()[0] == 1
    undelivered()
    wait_status(db, [job_id], "completed", between=sweeper(db))


def test_failing_jobs_retry_then_dead_letter_and_retry_failed_jobs_brings_them_back(db, fresh_worker):
    [job_id] = submit(db, f"{FAIL_PREFIX}-demo")
    failed = wait_status(db, [job_id], "failed", between=sweeper(db))[job_id]
    assert failed["attempts"] == 3 and "JOB_FAIL_PATTERN" in failed["error"]
    letters = db.execute("select message from pgmq.q_work_queue_dlq where message->>'job_id' = %s",
                         (job_id,)).fetchall()
    assert len(letters) == 1 and "JOB_FAIL_PATTERN" in letters[0][0]["error"]
    outcomes = [run["outcome"] for run in reversed(fresh_worker.runs()) if run["job_id"] == job_id]
    assert outcomes == ["retrying", "retrying", "failed"]
    fresh_worker.restart(JOB_FAIL_PATTERN="")  # the cause is fixed; bring the dead letters back
    assert db.execute("select public.retry_failed_jobs()").fetchone()[0] >= 1
    done = wait_status(db, [job_id], "completed", between=sweeper(db))[job_id]
    assert done["attempts"] == 1 and done["error"] is None


def test_sigterm_mid_job_lets_running_jobs_finish(db, fresh_worker):
    fresh_worker.restart(JOB_MIN_SECONDS="1", JOB_MAX_SECONDS="1")
    job_ids = submit(db, "finish-1", "finish-2")
    wait_status(db, job_ids, "processing")
    process = fresh_worker.process
    fresh_worker.stop()
    assert {row["status"] for row in rows(db, job_ids).values()} == {"completed"}
    log = Path(process.log_path).read_text()
    assert event_lines(log, "runner.drained", released=0)


def test_sigterm_past_the_grace_period_releases_jobs_for_redelivery(db, fresh_worker):
    fresh_worker.restart(JOB_MIN_SECONDS="30", JOB_MAX_SECONDS="30", WORKER_GRACE_SECONDS="0.2")
    [job_id] = submit(db, "released")
    wait_status(db, [job_id], "processing")
    fresh_worker.stop()
    assert rows(db, [job_id])[job_id]["status"] == "processing"
    fresh_worker.start()
    expire_leases(db, [job_id])
    done = wait_status(db, [job_id], "completed", between=sweeper(db))[job_id]
    assert done["attempts"] == 2
