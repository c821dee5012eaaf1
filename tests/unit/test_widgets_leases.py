"""Orphaned jobs: which processing rows count as orphans, and how their lease countdown reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobqueue.job import Job
from jobqueue.widgets.leases import lease_text, orphaned
from jobqueue.widgets.render import row_cells, row_html

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("seconds", "text"), [
    (24.0, "lease expires in 24 s"),
    (23.2, "lease expires in 24 s"),
    (0.4, "lease expires in 1 s"),
    (0.0, "lease ran out just now: the sweeper re-delivers it"),
    (-0.7, "lease ran out just now: the sweeper re-delivers it"),
    (-12.5, "lease ran out 12 s ago: the sweeper re-delivers it"),
])
def test_lease_countdown(seconds, text):
    assert lease_text(seconds) == text


def job(n: int, status: str = "processing", attempts: int = 1, started: float = 30.0) -> Job:
    return Job(job_id=f"job-{n}", task_name=f"task-{n}", status=status, attempts=attempts,
               started_at=NOW - timedelta(seconds=started))


def test_every_processing_job_with_a_lease_is_orphaned_when_the_worker_does_not_answer():
    expires = NOW + timedelta(seconds=24)
    rows = [job(1), job(2, status="pending"), job(3)]
    assert orphaned(rows, {"job-1": expires, "job-2": expires}, None, NOW) == {"job-1": expires}


def test_a_job_the_worker_runs_is_not_orphaned_but_an_earlier_attempt_elsewhere_is():
    expires = NOW + timedelta(seconds=5)
    runs = [{"job_id": "job-1", "attempt": 1, "outcome": "running"}, {"job_id": "job-2", "attempt": 1}]
    rows = [job(1), job(2, attempts=2)]
    assert orphaned(rows, {"job-1": expires, "job-2": expires}, runs, NOW) == {"job-2": expires}


def test_a_fresh_claim_is_given_time_to_show_up_in_the_runs():
    expires = NOW + timedelta(seconds=60)
    assert orphaned([job(1, started=0.5)], {"job-1": expires}, [], NOW) == {}


def test_an_orphan_row_shows_its_countdown_instead_of_a_duration():
    row = job(1)
    cells = row_cells(row, NOW, NOW + timedelta(seconds=24))
    assert cells[4] == "Orphaned" and cells[5] == "worker gone, lease expires in 24 s"
    html = row_html(row, NOW, NOW + timedelta(seconds=24))
    assert "jq-status-processing" in html and "jq-orphan" in html
    assert row_cells(row, NOW)[4] == "Processing"

