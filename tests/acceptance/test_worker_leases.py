"""Leases against the real stack and a real worker process: a long job keeps extending its lease while the
sweeper runs, and a dead worker's lease runs out by itself so that the sweeper delivers the job again.

The lease is 1 s and the job takes 3-3.5 s, so the job outlives its first lease several times over. Time is
never moved in SQL here: the point is what the lease does on its own clock.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import psycopg
import pytest

from tests.acceptance import test_worker_acceptance as acceptance
from tests.worker_support import WorkerHandle, completed_runs, rows, submit, sweeper, wait_status, wait_until

pytestmark = pytest.mark.timeout(60)

# The acceptance module's worker fixtures: one worker process for this module, restarted per test.
worker = acceptance.worker
fresh_worker = acceptance.fresh_worker

LONG_JOB = {"WORKER_LEASE_SECONDS": "1", "JOB_MIN_SECONDS": "3", "JOB_MAX_SECONDS": "3.5"}


def lease(db: psycopg.Connection, job_id: str) -> tuple[datetime, bool] | None:
    """The message's vt and whether it still lies ahead, or None once the message is archived."""
    return db.execute("select vt, vt > clock_timestamp() from pgmq.q_work_queue where message->>'job_id' = %s",
                      (job_id,)).fetchone()


def archived_read_count(db: psycopg.Connection, job_id: str) -> int:
    """How many times the archived message was claimed (``mark_job_processing`` counts each claim)."""
    return db.execute("select read_ct from pgmq.a_work_queue where message->>'job_id' = %s",
                      (job_id,)).fetchone()[0]


def test_a_long_job_extends_its_lease_and_completes_once_while_the_sweeper_runs(db, fresh_worker: WorkerHandle):
    fresh_worker.restart(**LONG_JOB)
    [job_id] = submit(db, "long-lease")
    wait_status(db, [job_id], "processing")
    sweep = sweeper(db, every=0.2)  # far more often than cron's 10 s, each time as if the quiet period were over
    seen: list[datetime] = []

    def watch_and_sweep() -> None:
        current = lease(db, job_id)
        if current is not None:
            seen.append(current[0])
        sweep()

    done = wait_status(db, [job_id], "completed", between=watch_and_sweep)[job_id]
    assert done["attempts"] == 1 and done["error"] is None
    assert archived_read_count(db, job_id) == 1
    assert [run["outcome"] for run in fresh_worker.runs() if run["job_id"] == job_id] == ["completed"]
    assert seen == sorted(seen), "the lease never moves backwards"
    assert len(set(seen)) >= 3, f"the lease was extended while the job ran: {sorted(set(seen))}"
    assert max(seen) - min(seen) > timedelta(seconds=1), "the lease outlived its first term"


def test_a_killed_workers_lease_runs_out_by_itself_and_the_sweeper_delivers_again(db, fresh_worker: WorkerHandle):
    fresh_worker.restart(**(LONG_JOB | {"JOB_MIN_SECONDS": "30", "JOB_MAX_SECONDS": "30"}))
    [job_id] = submit(db, "lease-holder-killed")
    wait_status(db, [job_id], "processing")
    first = lease(db, job_id)
    assert first is not None
    wait_until(lambda: (current := lease(db, job_id)) is not None and current[0] > first[0],
               "the running job to extend its lease")
    fresh_worker.stop(force=True)
    wait_until(lambda: not lease(db, job_id)[1], "the lease to run out with nobody extending it")
    assert rows(db, [job_id])[job_id]["status"] == "processing"
    fresh_worker.start()
    done = wait_status(db, [job_id], "completed", between=sweeper(db))[job_id]
    assert done["attempts"] == 2
    assert completed_runs(fresh_worker, [job_id]) == Counter({job_id: 1})
    assert archived_read_count(db, job_id) == 2
