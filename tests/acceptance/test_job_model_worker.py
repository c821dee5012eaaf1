"""The job model with a real worker process: priority under load, delays on time, timeouts, cancel, progress
pushed over Realtime and coalesced, per-job attempt limits, payloads that can never run, job types the worker
does not serve."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb
from supabase import acreate_client

from jobqueue.settings import Settings
from supabase_local.testing import Inbox, record
from tests.worker_support import WorkerHandle, rows, wait_status, wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def worker(provisioned: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:
    with WorkerHandle.running(provisioned, tmp_path_factory.mktemp("model-worker")) as handle:
        yield handle


def submit(db: psycopg.Connection, task_name: str, **arguments: Any) -> dict[str, Any]:
    """``submit_job`` with named arguments, as the REST API calls it."""
    values = {key: Jsonb(value) if key == "payload" else value for key, value in arguments.items()}
    named = sql.SQL("").join(sql.SQL(", {} => {}").format(sql.Identifier(key), sql.Placeholder(key))
                             for key in values)
    query = sql.SQL("select * from public.submit_job({}{})").format(sql.Placeholder("task_name"), named)
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(query, {"task_name": task_name, **values}).fetchone()


def in_queue(db: psycopg.Connection, job_id: str) -> int:
    return db.execute("select count(*) from pgmq.q_work_queue where message->>'job_id' = %s", (job_id,)).fetchone()[0]


def test_high_priority_jobs_overtake_the_waiting_backlog(db, worker):
    worker.restart(WORKER_CONCURRENCY="1", JOB_MIN_SECONDS="0.15", JOB_MAX_SECONDS="0.15")
    low = [str(submit(db, f"low-{n}", priority=0)["job_id"]) for n in range(20)]
    wait_until(lambda: any(row["status"] != "pending" for row in rows(db, low).values()), "the first low job to start")
    high = [str(submit(db, f"high-{n}", priority=10)["job_id"]) for n in range(3)]
    done = wait_status(db, low + high, "completed")
    submitted_high = max(done[job_id]["created_at"] for job_id in high)
    last_high_start = max(done[job_id]["started_at"] for job_id in high)
    still_waiting = [job_id for job_id in low if done[job_id]["started_at"] > submitted_high]
    assert len(still_waiting) >= 10, "the backlog was not waiting when the high-priority jobs came"
    assert all(done[job_id]["started_at"] > last_high_start for job_id in still_waiting)


def test_a_delayed_job_starts_on_time(db, worker):
    worker.restart()
    job = submit(db, "later", delay_seconds=2)
    [done] = wait_status(db, [str(job["job_id"])], "completed").values()
    assert done["run_after"] <= done["started_at"] <= done["run_after"] + timedelta(seconds=2)


def test_a_timed_out_attempt_is_retried_then_dead_lettered_without_a_lease_left(db, worker):
    worker.restart(JOB_MIN_SECONDS="5", JOB_MAX_SECONDS="5")
    job_id = str(submit(db, "too slow", timeout_seconds=1, max_attempts=2)["job_id"])
    [done] = wait_status(db, [job_id], "failed").values()
    assert (done["attempts"], done["error"]) == (2, "timed out after 1 s")
    assert in_queue(db, job_id) == 0
    letters = db.execute("select count(*) from pgmq.q_work_queue_dlq where message->>'job_id' = %s",
                         (job_id,)).fetchone()[0]
    assert letters == 1
    outcomes = [run["outcome"] for run in worker.runs() if run["job_id"] == job_id]
    assert outcomes == ["failed", "retrying"]


def test_a_cancelled_pending_job_never_runs(db, worker):
    worker.restart()
    job_id = str(submit(db, "never", delay_seconds=1)["job_id"])
    db.execute("select public.cancel_job(%s)", (job_id,))
    later = str(submit(db, "after it", delay_seconds=2)["job_id"])
    wait_status(db, [later], "completed")  # the cancelled one was due a second before this one
    assert rows(db, [job_id])[job_id]["status"] == "cancelled"
    assert in_queue(db, job_id) == 0
    assert [run for run in worker.runs() if run["job_id"] == job_id] == []


def test_a_running_job_is_stopped_and_ends_cancelled(db, worker):
    worker.restart(JOB_MIN_SECONDS="30", JOB_MAX_SECONDS="30")
    job_id = str(submit(db, "long report", job_type="generate_report", payload={"sections": 10})["job_id"])
    wait_status(db, [job_id], "processing")
    db.execute("select public.cancel_job(%s)", (job_id,))
    [done] = wait_status(db, [job_id], "cancelled").values()
    assert done["completed_at"] - done["cancelled_at"] <= timedelta(seconds=2)
    assert (done["result"], in_queue(db, job_id)) == (None, 0)
    [run] = [run for run in worker.runs() if run["job_id"] == job_id]
    assert run["outcome"] == "cancelled"


async def test_progress_arrives_over_realtime_in_order_and_coalesced(db, worker, provisioned):
    worker.restart(JOB_MIN_SECONDS="1", JOB_MAX_SECONDS="1")
    # The operator's view: a job submitted without a user is seen by the service role only.
    client = await acreate_client(provisioned.supabase_url, provisioned.service_role_key)
    inbox = Inbox()
    channel = client.channel(f"progress-{uuid.uuid4()}")
    channel.on_postgres_changes("UPDATE", schema="public", table="job_results", callback=inbox)
    subscribed = asyncio.Event()
    await channel.subscribe(lambda status, _err: subscribed.set() if status.value == "SUBSCRIBED" else None)
    await asyncio.wait_for(subscribed.wait(), 10)
    try:
        job_id = str(submit(db, "progress", job_type="generate_report", payload={"sections": 20})["job_id"])
        seen = await inbox.until(lambda payload: record(payload).get("job_id") == job_id
                                 and record(payload).get("status") == "completed", timeout=60)
    finally:
        await client.remove_channel(channel)
    mine = [record(payload) for payload in seen if record(payload).get("job_id") == job_id]
    running = [(row["progress"], row["progress_message"]) for row in mine if row["status"] == "processing"]
    progress = [value for value, _ in running]
    assert progress == sorted(progress) and len(running) >= 2
    assert len(running) < 20  # twenty reports in one second, sent a few per second at most
    assert (mine[-1]["status"], mine[-1]["progress"]) == ("completed", 100)


def test_a_job_stops_at_its_own_attempt_limit(db, worker):
    worker.restart(MAX_ATTEMPTS="5")
    job_id = str(submit(db, "always fails", job_type="flaky", payload={"failure_rate": 1}, max_attempts=2)["job_id"])
    [done] = wait_status(db, [job_id], "failed").values()
    assert done["attempts"] == 2 and "failed on purpose" in done["error"]


def test_a_payload_that_cannot_fit_fails_at_once_without_retries(db, worker):
    worker.restart(MAX_ATTEMPTS="5")
    job_id = str(submit(db, "tampered", job_type="generate_report", delay_seconds=1)["job_id"])
    db.execute("update public.job_results set payload = '{\"sections\": \"many\"}' where job_id = %s", (job_id,))
    [done] = wait_status(db, [job_id], "failed").values()
    assert done["attempts"] == 1
    assert "payload does not fit job type 'generate_report'" in done["error"] and "sections" in done["error"]


@pytest.fixture
def unserved_type(db: psycopg.Connection) -> Iterator[str]:
    """A job type in ``job_types`` that the worker has no task for (as after provisioning a newer worker's
    tasks while an older worker still runs); its jobs and letters are removed afterwards."""
    name = "resize"
    db.execute("insert into public.job_types (name, description) values (%s, 'not in this worker')", (name,))
    yield name
    jobs = [str(job_id) for (job_id,) in db.execute("select job_id from public.job_results where job_type = %s",
                                                    (name,)).fetchall()]
    for table in ("q_work_queue", "q_work_queue_dlq", "a_work_queue"):
        db.execute(sql.SQL("delete from {} where message->>'job_id' = any(%s)").format(sql.Identifier("pgmq", table)),
                   (jobs,))
    db.execute("delete from public.job_results where job_type = %s", (name,))
    db.execute("delete from public.job_types where name = %s", (name,))


def test_a_job_of_a_type_the_worker_does_not_serve_fails_at_once_saying_so(db, worker, unserved_type):
    """Regression: such a job was retried as if the failure were transient, and reached the dead-letter queue
    only after every attempt and back-off, with a message that did not say what to do."""
    worker.restart(MAX_ATTEMPTS="5")
    health = httpx.get(f"{worker.process.url}/healthz", timeout=5).json()
    assert health["task_types"] == ["echo", "flaky", "generate_report"]
    job_id = str(submit(db, "make thumbnails", job_type=unserved_type)["job_id"])
    [done] = wait_status(db, [job_id], "failed").values()
    assert done["attempts"] == 1
    assert done["error"] == ("job type 'resize' is not registered in this worker (it serves: echo, flaky, "
                             "generate_report); restart the worker after adding a task")
    letters = db.execute("select count(*) from pgmq.q_work_queue_dlq where message->>'job_id' = %s",
                         (job_id,)).fetchone()[0]
    assert (letters, in_queue(db, job_id)) == (1, 0)
    assert [run["outcome"] for run in worker.runs() if run["job_id"] == job_id] == ["failed"]
