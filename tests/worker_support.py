"""A real worker process for acceptance tests, and polling helpers that wait on database state."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

from jobqueue.provision import provision
from jobqueue.settings import Settings
from jobqueue.worker_process import WorkerProcess, runs, start_worker, stop_worker, worker_env

FAIL_PREFIX = "always-fail"
FAST = {"JOB_MIN_SECONDS": "0", "JOB_MAX_SECONDS": "0.05"}
DEADLINE = 60.0


class WorkerHandle:
    """The module's worker process; tests may kill or restart it with other settings."""

    def __init__(self, settings: Settings, state_dir: Path) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.port = urlparse(settings.worker_url).port or 8787
        self.process: WorkerProcess | None = None

    @classmethod
    @contextmanager
    def running(cls, settings: Settings, state_dir: Path) -> Iterator[WorkerHandle]:
        """A started worker, stopped when the block ends (a module fixture yields it).

        The database is provisioned with these settings first, so its webhooks reach this worker whatever an
        earlier test (a notebook's own worker, say) pointed them at.
        """
        provision(settings)
        handle = cls(settings, state_dir)
        handle.start()
        try:
            yield handle
        finally:
            handle.stop()

    def env(self, **overrides: str) -> dict[str, str]:
        return worker_env(self.settings) | FAST | {
            "JOB_FAIL_PATTERN": f"^{FAIL_PREFIX}", "MAX_ATTEMPTS": "3", "WORKER_RETRY_BASE_SECONDS": "0",
            "WORKER_PULL_IDLE_SECONDS": "0", "WORKER_GRACE_SECONDS": "10", "WORKER_CONCURRENCY": "20",
        } | overrides

    def start(self, pull: bool = False, **overrides: str) -> WorkerProcess:
        assert self.process is None
        self.process = start_worker(self.env(**overrides), port=self.port, state_dir=self.state_dir, pull=pull)
        return self.process

    def stop(self, force: bool = False) -> None:
        if self.process is not None:
            stop_worker(self.process, force=force)
            self.process = None

    def restart(self, pull: bool = False, **overrides: str) -> WorkerProcess:
        self.stop()
        return self.start(pull=pull, **overrides)

    def runs(self) -> list[dict[str, Any]]:
        assert self.process is not None
        return runs(self.process, limit=1000)


def submit(db: psycopg.Connection, *names: str) -> list[str]:
    return [str(db.execute("select job_id from public.submit_job(%s)", (name,)).fetchone()[0]) for name in names]


def rows(db: psycopg.Connection, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    found = cur.execute("select * from public.job_results where job_id = any(%s::uuid[])", (job_ids,)).fetchall()
    return {str(row["job_id"]): row for row in found}


def wait_until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE,
               between: Callable[[], None] | None = None) -> None:
    """Poll ``condition`` until it holds; ``between`` runs between polls (e.g. a sweep)."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        if between is not None:
            between()
        time.sleep(0.05)


def wait_status(db: psycopg.Connection, job_ids: list[str], status: str, between: Callable[[], None] | None = None,
                ) -> dict[str, dict[str, Any]]:
    wait_until(lambda: all(row["status"] == status for row in rows(db, job_ids).values()),
               f"{len(job_ids)} jobs to be {status}", between=between)
    return rows(db, job_ids)


def sweeper(db: psycopg.Connection, every: float = 0.5) -> Callable[[], None]:
    """A callable that, at most every ``every`` seconds, makes each delivered but unclaimed message due for
    re-delivery (as if the sweeper's quiet period had passed) and runs the sweeper once."""
    last = [0.0]

    def sweep() -> None:
        if time.monotonic() - last[0] < every:
            return
        last[0] = time.monotonic()
        db.execute("update jobqueue_private.deliveries set last_delivered_at = last_delivered_at - interval '1 hour'")
        db.execute("select public.sweep_work_queue()")

    return sweep


def expire_leases(db: psycopg.Connection, job_ids: list[str]) -> None:
    db.execute("update pgmq.q_work_queue set vt = clock_timestamp() where message->>'job_id' = any(%s)", (job_ids,))


def archived_count(db: psycopg.Connection, job_ids: list[str]) -> Counter[str]:
    found = db.execute("select message->>'job_id' from pgmq.a_work_queue where message->>'job_id' = any(%s)",
                       (job_ids,)).fetchall()
    return Counter(job_id for (job_id,) in found)


def completed_runs(handle: WorkerHandle, job_ids: list[str]) -> Counter[str]:
    wanted = set(job_ids)
    return Counter(run["job_id"] for run in handle.runs() if run["outcome"] == "completed" and run["job_id"] in wanted)
