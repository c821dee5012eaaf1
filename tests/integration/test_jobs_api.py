"""The seed-style jobs API (enqueue_job, get_job_status, wait_for_job_completion, cancel_job, job_stats)."""

from __future__ import annotations

import threading
import uuid

import pytest

from jobqueue.jobs import (
    Job,
    JobRejected,
    JobTimeout,
    cancel_job,
    enqueue_job,
    get_job_status,
    job_stats,
    wait_for_job_completion,
)
from jobqueue.settings import Settings
from tests.schema_helpers import call, count_rows


def test_enqueue_then_status(provisioned: Settings):
    job = enqueue_job("echo", {"message": "hi"}, task_name="  api job  ", priority=3, settings=provisioned)
    assert isinstance(job, Job)
    assert (job.task_name, job.job_type, job.payload, job.priority, job.status, job.finished) == (
        "api job", "echo", {"message": "hi"}, 3, "pending", False)
    assert job.created_at is not None
    assert get_job_status(job.job_id, settings=provisioned) == job


def test_task_name_defaults_to_the_job_type(provisioned: Settings):
    job = enqueue_job("generate_report", {"title": "Q3"}, settings=provisioned)
    assert (job.task_name, job.job_type, job.timeout_seconds) == ("generate_report", "generate_report", 600)


def test_unknown_job_has_no_status(provisioned: Settings):
    assert get_job_status(uuid.uuid4(), settings=provisioned) is None


@pytest.mark.parametrize(("call_args", "argument", "words"), [
    ({"job_type": "no_such_type"}, "job_type", "not a known job type"),
    ({"job_type": "echo", "task_name": "bad\x01name"}, "task_name", "control characters"),
    ({"job_type": "echo", "payload": {"message": 5}}, "payload", "message must be a string"),
    ({"job_type": "echo", "delay": -1}, "delay_seconds", "between 0 and"),
    ({"job_type": "echo", "priority": 101}, "priority", "between -100 and 100"),
])
def test_refusals_name_the_argument_and_queue_nothing(provisioned: Settings, db, call_args, argument, words):
    name = f"refused-{uuid.uuid4()}"
    options = {"task_name": name, **call_args}
    job_type = options.pop("job_type")
    with pytest.raises(JobRejected, match=words) as refused:
        enqueue_job(job_type, settings=provisioned, **options)
    assert refused.value.argument == argument
    assert count_rows(db, name) == (0, 0)


def test_wait_returns_the_finished_job(provisioned: Settings, db):
    job = enqueue_job("echo", task_name="finishes", settings=provisioned)
    call(db, "select * from public.mark_job_processing(%(j)s, %(m)s, 60)", {"j": job.job_id, "m": job.msg_id})
    call(db, "select * from public.mark_job_completed(%(j)s, 'the answer', '{\"n\": 42}')", {"j": job.job_id})
    done = wait_for_job_completion(job.job_id, timeout=30, settings=provisioned)
    assert (done.status, done.result, done.output, done.attempts, done.finished) == (
        "completed", "the answer", {"n": 42}, 1, True)


def test_wait_sees_a_finish_pushed_by_realtime_while_it_waits(provisioned: Settings, db):
    job = enqueue_job("echo", task_name="finishes later", settings=provisioned)
    call(db, "select * from public.mark_job_processing(%(j)s, %(m)s, 60)", {"j": job.job_id, "m": job.msg_id})
    finish = threading.Timer(1.0, call, (db, "select * from public.mark_job_failed(%(j)s, 'late failure', 0, 1)",
                                         {"j": job.job_id}))
    finish.start()
    try:
        done = wait_for_job_completion(job.job_id, timeout=30, poll_interval=60, settings=provisioned)
    finally:
        finish.join()
    assert (done.status, done.error) == ("failed", "late failure")


def test_wait_gives_up_with_the_last_state(provisioned: Settings):
    job = enqueue_job("echo", task_name="never picked up", settings=provisioned)
    with pytest.raises(JobTimeout, match="last status: pending") as timed_out:
        wait_for_job_completion(job.job_id, timeout=0.5, poll_interval=0.05, settings=provisioned)
    assert timed_out.value.job.job_id == job.job_id


def test_cancel_a_pending_job(provisioned: Settings):
    job = enqueue_job("echo", task_name="cancel me", settings=provisioned)
    cancelled = cancel_job(job.job_id, settings=provisioned)
    assert (cancelled.status, cancelled.finished) == ("cancelled", True)
    assert cancelled.cancelled_at is not None


def test_job_stats_counts_by_type_and_status(provisioned: Settings):
    enqueue_job("flaky", {"failure_rate": 0.1}, settings=provisioned)
    rows = job_stats(settings=provisioned)
    pending = [row for row in rows if (row["job_type"], row["status"]) == ("flaky", "pending")]
    assert pending and pending[0]["jobs"] >= 1
    assert set(rows[0]) >= {"job_type", "status", "jobs", "wait_p50_seconds", "wait_p95_seconds",
                            "run_p50_seconds", "run_p95_seconds", "failures", "retries"}


def test_row_with_unknown_columns_still_maps():
    row = {"id": "1", "job_id": "2", "task_name": "t", "status": "pending", "progress": 50, "shiny_new": True,
           "created_at": "2026-01-01T00:00:00+00:00"}
    job = Job.from_row(row)
    assert (job.created_at.year, job.progress) == (2026, 50)
