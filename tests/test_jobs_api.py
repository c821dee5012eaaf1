"""The seed-style client API (enqueue_job, get_job_status, wait_for_job_completion) over supabase-py."""

from __future__ import annotations

import uuid

import pytest

from jobqueue.jobs import InvalidTaskName, Job, JobTimeout, enqueue_job, get_job_status, wait_for_job_completion
from jobqueue.settings import Settings
from tests.schema_helpers import call


def test_enqueue_then_status(provisioned: Settings):
    job = enqueue_job("  api job  ", settings=provisioned)
    assert isinstance(job, Job)
    assert (job.task_name, job.status, job.finished) == ("api job", "pending", False)
    assert job.created_at is not None
    assert get_job_status(job.job_id, settings=provisioned) == job


def test_unknown_job_has_no_status(provisioned: Settings):
    assert get_job_status(uuid.uuid4(), settings=provisioned) is None


def test_bad_name_raises_invalid_task_name(provisioned: Settings):
    with pytest.raises(InvalidTaskName, match="control characters"):
        enqueue_job("bad\x01name", settings=provisioned)


def test_wait_returns_the_finished_job(provisioned: Settings, db):
    job = enqueue_job("finishes", settings=provisioned)
    call(db, "select * from public.mark_job_processing(%(j)s, %(m)s, 60)", {"j": job.job_id, "m": job.msg_id})
    call(db, "select * from public.mark_job_completed(%(j)s, 'the answer')", {"j": job.job_id})
    done = wait_for_job_completion(job.job_id, timeout=30, settings=provisioned)
    assert (done.status, done.result, done.attempts, done.finished) == ("completed", "the answer", 1, True)


def test_wait_returns_a_failed_job_too(provisioned: Settings, db):
    job = enqueue_job("fails", settings=provisioned)
    call(db, "select * from public.mark_job_failed(%(j)s, 'nope', 0, 0)", {"j": job.job_id})
    done = wait_for_job_completion(job.job_id, timeout=30, settings=provisioned)
    assert (done.status, done.error) == ("failed", "nope")


def test_wait_gives_up_with_the_last_state(provisioned: Settings):
    job = enqueue_job("never picked up", settings=provisioned)
    with pytest.raises(JobTimeout, match="last status: pending") as timed_out:
        wait_for_job_completion(job.job_id, timeout=0.2, poll_interval=0.05, settings=provisioned)
    assert timed_out.value.job.job_id == job.job_id


def test_row_with_unknown_columns_still_maps():
    row = {"id": "1", "job_id": "2", "task_name": "t", "status": "pending", "progress": 50,
           "created_at": "2026-01-01T00:00:00+00:00"}
    job = Job.from_row(row)
    assert job.created_at.year == 2026
