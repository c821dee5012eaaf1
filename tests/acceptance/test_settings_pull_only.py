"""A pull-only project: without ``WORKER_URL`` provisioning stores no worker URL, the webhook trigger sends
nothing, and a ``--pull`` worker completes the job."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from jobqueue.provision import ProvisionReport, provision
from jobqueue.settings import Settings
from jobqueue.worker_process import runs, start_worker, stop_worker, worker_env
from supabase_local.state import free_port
from tests.worker_support import FAST, submit, wait_status


@pytest.fixture
def pull_only(provisioned: Settings) -> Iterator[tuple[Settings, ProvisionReport]]:
    settings = replace(provisioned, worker_url=None)
    report = provision(settings)
    try:
        yield settings, report
    finally:
        provision(provisioned)


def deliveries(db: psycopg.Connection, job_id: str) -> int:
    return db.execute("select count(*) from jobqueue_private.deliveries where job_id = %s", (job_id,)).fetchone()[0]


def test_a_pull_only_project_is_served_by_a_pull_worker(db, pull_only, tmp_path: Path):
    settings, report = pull_only
    assert settings.delivery == "pull"
    assert "worker_url" in report.settings_changed
    assert db.execute("select jobqueue_private.setting('worker_url')").fetchone()[0] is None
    [job_id] = submit(db, "pulled, never posted")
    assert deliveries(db, job_id) == 0
    worker = start_worker(worker_env(settings) | FAST | {"WORKER_PULL_INTERVAL_SECONDS": "0.1"}, port=free_port(),
                          state_dir=tmp_path, pull=True)
    try:
        done = wait_status(db, [job_id], "completed")
        [run] = [run for run in runs(worker) if run["job_id"] == job_id]
    finally:
        stop_worker(worker)
    assert done[job_id]["attempts"] == 1
    assert (run["source"], run["outcome"]) == ("pull", "completed")
    assert deliveries(db, job_id) == 0
