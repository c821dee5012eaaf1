"""What snapshots and steps say about the running worker, from its /healthz answer, and the back-off table read
from its runs; no server: the answers are shaped as the worker sends them."""

from __future__ import annotations

from jobqueue.job import Job
from jobqueue.steps.showcase import backoff_rows
from jobqueue.widgets.snapshot import worker_settings_text

SETTINGS = {"concurrency": 2, "max_backlog": 1000, "lease_seconds": 60, "job_min_seconds": 5.0,
            "job_max_seconds": 10.0, "max_attempts": 5, "retry_base_seconds": 2.0, "retry_max_seconds": 300.0,
            "pull": False}


def test_the_running_workers_settings_are_quoted_not_the_notebooks():
    text = worker_settings_text({"status": "ok", "pid": 4242, "settings": SETTINGS})
    assert text.startswith("worker pid 4242 (its /healthz): takes webhooks, concurrency 2, lease 60 s")
    assert "jobs of 5.0-10.0 s, 5 attempts, retries after 2.0 s doubling up to 300.0 s" in text
    assert "pulls jobs" in worker_settings_text({"pid": 1, "settings": {**SETTINGS, "pull": True}})


def test_an_older_worker_or_none_is_said_so():
    assert "does not report its settings" in worker_settings_text({"status": "ok", "pid": 7})
    assert worker_settings_text(None) == "worker: did not answer /healthz"


def run(attempt: int, started: str, took: float) -> dict[str, object]:
    return {"job_id": "j1", "attempt": attempt, "started_at": f"2026-12-05T08:00:{started}+00:00",
            "duration_seconds": took, "outcome": "retrying"}


def test_back_off_rows_measure_each_wait_against_the_rule():
    job = Job(job_id="j1", task_name="fail-on-purpose", status="failed")
    runs = [run(3, "09.000", 0.5), run(1, "00.000", 0.5), run(2, "02.000", 0.5), {"job_id": "other", "attempt": 1}]
    rows = backoff_rows(job, runs, SETTINGS)
    assert [(row["retry"], row["waited_s"], row["rule allows_s"]) for row in rows] == [
        ("attempt 2", 1.5, "1-2"), ("attempt 3", 6.5, "2-4")]
    assert backoff_rows(job, runs, {})[0]["rule allows_s"] == "(the worker does not report its settings)"
