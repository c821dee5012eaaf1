"""Several worker processes on one port (``python -m worker --processes N``): jobs spread across them, a
killed child is restarted by the supervisor and loses no job, SIGTERM drains them all, a killed supervisor
leaves no orphan serving the port."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from jobqueue.settings import Settings
from jobqueue.worker_process import WorkerProcess, start_worker, stop_worker, worker_env
from supabase_local.state import free_port
from supabase_local.testing import eventually
from tests.acceptance.test_worker_process import offline_settings
from tests.log_lines import event_lines
from tests.worker_pool import child_pids, exited, runs_by_pid, wait_children
from tests.worker_support import FAST, archived_count, submit, sweeper, wait_status
from worker.supervisor import Backoff

pytestmark = pytest.mark.timeout(180)

PROCESSES = 3


def pool_env(settings: Settings, **overrides: str) -> dict[str, str]:
    return worker_env(settings) | FAST | {"WORKER_PULL_IDLE_SECONDS": "0", "WORKER_GRACE_SECONDS": "10",
                                          "WORKER_CONCURRENCY": "20"} | overrides


@pytest.fixture
def pool(provisioned: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    """Three workers on the port the database posts to."""
    port = urlparse(provisioned.worker_url).port or 8787
    worker = start_worker(pool_env(provisioned), port=port, state_dir=tmp_path, processes=PROCESSES)
    wait_children(worker, PROCESSES)
    yield worker
    stop_worker(worker)


def test_backoff_doubles_for_early_deaths_up_to_a_cap():
    backoff = Backoff(base=0.1, cap=1.0)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 5, 9)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_healthz_and_runs_name_the_process_and_its_supervisor(pool):
    seen = eventually(lambda: {httpx.get(f"{pool.url}/healthz", timeout=5).json()["pid"] for _ in range(30)}
                      >= child_pids(pool) or None, what="every child answering /healthz")
    assert seen
    answer = httpx.get(f"{pool.url}/healthz", timeout=5).json()
    assert answer["supervisor"] == pool.pid and answer["pid"] in child_pids(pool)
    runs = httpx.get(f"{pool.url}/runs", timeout=5).json()
    assert runs["supervisor"] == pool.pid and runs["pid"] in child_pids(pool)


def submit_burst(db, prefix: str, count: int) -> list[str]:
    """``count`` jobs in one transaction: their webhooks leave together, on several connections."""
    found = db.execute("select (public.submit_job(%s || n)).job_id from generate_series(1, %s) n",
                       (prefix, count)).fetchall()
    return [str(job_id) for (job_id,) in found]


def test_jobs_spread_across_processes_and_complete_once(db, pool):
    job_ids = submit_burst(db, "spread-", 90)
    wait_status(db, job_ids, "completed")
    by_pid = runs_by_pid(pool, child_pids(pool))
    wanted = set(job_ids)
    completed = Counter(run["job_id"] for runs in by_pid.values() for run in runs
                        if run["outcome"] == "completed" and run["job_id"] in wanted)
    assert completed == Counter({job_id: 1 for job_id in job_ids})
    workers_used = {pid for pid, runs in by_pid.items() if any(run["job_id"] in wanted for run in runs)}
    assert len(workers_used) >= 2, f"all jobs ran in {workers_used}"
    assert all(run["pid"] == pid for pid, runs in by_pid.items() for run in runs)
    assert archived_count(db, job_ids) == Counter({job_id: 1 for job_id in job_ids})


def test_a_killed_child_is_restarted_and_no_job_is_lost(db, provisioned, tmp_path):
    port = urlparse(provisioned.worker_url).port or 8787
    worker = start_worker(pool_env(provisioned, JOB_MIN_SECONDS="1", JOB_MAX_SECONDS="1", WORKER_LEASE_SECONDS="3"),
                          port=port, state_dir=tmp_path, processes=PROCESSES)
    try:
        before = wait_children(worker, PROCESSES)
        job_ids = submit(db, *(f"killed-child-{n}" for n in range(30)))
        wait_status(db, job_ids[:1], "processing")
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        after = wait_children(worker, PROCESSES, without=victim)
        assert len(after - before) == 1
        done = wait_status(db, job_ids, "completed", between=sweeper(db))
        assert archived_count(db, job_ids) == Counter({job_id: 1 for job_id in job_ids})
        assert all(row["result"] for row in done.values())
        assert event_lines(Path(worker.log_path).read_text(), "supervisor.child_exited")
    finally:
        stop_worker(worker)


def test_sigterm_drains_every_child(tmp_path):
    port = free_port()
    worker = start_worker(worker_env(offline_settings(port)), port=port, state_dir=tmp_path, processes=PROCESSES)
    children = wait_children(worker, PROCESSES)
    assert stop_worker(worker)
    eventually(lambda: all(exited(pid) for pid in children), what="every child to exit")
    log = Path(worker.log_path).read_text()
    assert all(event_lines(log, "worker.stopped", pid=pid) for pid in children)
    assert event_lines(log, "supervisor.stopped")


def test_a_killed_supervisor_leaves_no_orphan(tmp_path):
    port = free_port()
    worker = start_worker(worker_env(offline_settings(port)), port=port, state_dir=tmp_path, processes=2)
    children = wait_children(worker, 2)
    stop_worker(worker, force=True)
    eventually(lambda: all(exited(pid) for pid in children), what="every child to exit")
    assert event_lines(Path(worker.log_path).read_text(), "worker.orphaned")
