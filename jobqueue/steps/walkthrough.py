"""Small steps notebook 02 takes besides the widgets: apply its parameters, run (and crash) its own worker, read
the recovery timers, list dead letters."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row

from jobqueue import queries
from jobqueue.settings import Settings, configured, local_stack_dir
from jobqueue.worker_process import (
    WorkerProcess,
    health,
    load_worker,
    start_project_worker,
    stop_worker,
    worker_env,
)

log = structlog.get_logger(__name__)

DEFAULT_FAIL_PATTERN = "^fail-"
DEFAULT_PULL_IDLE_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class RecoveryTimers:
    """The waits that bring back a job no webhook delivered, as this project and its running worker are set up."""

    sweeper_schedule: str
    redeliver_after_seconds: float
    pull_idle_seconds: float
    lease_seconds: float | None
    worker_pid: int

    @property
    def lease(self) -> str:
        """The lease as the running worker reported it, or that it did not (never the notebook's parameter)."""
        if self.lease_seconds is None:
            return f"not reported by the worker (pid {self.worker_pid}; its /healthz has no settings)"
        return f"{self.lease_seconds:g} s (the running worker's /healthz, pid {self.worker_pid})"


def with_parameters(settings: Settings, job_min_seconds: float | None = None, job_max_seconds: float | None = None,
                    fail_pattern: str | None = None, max_attempts: int | None = None) -> Settings:
    """The settings with the notebook's parameters applied; None keeps the configured value."""
    chosen: dict[str, Any] = {
        "job_min_seconds": job_min_seconds, "job_max_seconds": job_max_seconds, "max_attempts": max_attempts,
        "job_fail_pattern": fail_pattern or settings.job_fail_pattern or DEFAULT_FAIL_PATTERN,
    }
    return dataclasses.replace(settings, **{key: value for key, value in chosen.items() if value is not None})


def _worker_dir(settings: Settings) -> Path:
    return settings.local_stack_dir or local_stack_dir(configured())


def stop_recorded_worker(settings: Settings) -> bool:
    """Stop the worker recorded for this project, if one runs (its running jobs are drained first)."""
    recorded = load_worker(_worker_dir(settings))
    return recorded is not None and stop_worker(recorded)


def crash_worker(settings: Settings) -> bool:
    """Kill the recorded worker with SIGKILL, as a crash would: its running jobs keep their leases, orphaned."""
    recorded = load_worker(_worker_dir(settings))
    return recorded is not None and stop_worker(recorded, force=True)


def own_worker(settings: Settings, fresh: bool = True, concurrency: int | None = None,
               lease_seconds: int | None = None) -> WorkerProcess:
    """A worker process running with these settings: ``fresh`` replaces a running one, else a healthy one is
    reused. ``concurrency`` and ``lease_seconds`` override WORKER_CONCURRENCY and WORKER_LEASE_SECONDS."""
    directory = _worker_dir(settings)
    if fresh:
        stop_recorded_worker(settings)
    elif (recorded := load_worker(directory)) is not None and (health(recorded) or {}).get("status") == "ok":
        log.info("walkthrough.worker_reused", pid=recorded.pid, url=recorded.url)
        return recorded
    env = worker_env(settings)
    if lease_seconds is not None:
        env["WORKER_LEASE_SECONDS"] = str(lease_seconds)
    worker = start_project_worker(settings, directory, env, concurrency=concurrency)
    log.info("walkthrough.worker", pid=worker.pid, url=worker.url, fresh=fresh, concurrency=concurrency)
    return worker


def running_settings(worker: WorkerProcess) -> dict[str, Any]:
    """The settings the running worker reports in ``/healthz`` (empty when it reports none or does not answer)."""
    reported = (health(worker) or {}).get("settings")
    return dict(reported) if isinstance(reported, dict) else {}


def recovery_timers(settings: Settings, worker: WorkerProcess) -> RecoveryTimers:
    """The sweeper's schedule and quiet period (from the database), the pull loop's idle time, and the lease the
    running worker holds claims for (from its ``/healthz`` settings)."""
    with psycopg.connect(settings.db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(queries.RECOVERY_TIMERS)
        row = cur.fetchone() or {}
    lease = running_settings(worker).get("lease_seconds")
    return RecoveryTimers(
        sweeper_schedule=str(row.get("sweeper") or "not scheduled"),
        redeliver_after_seconds=float(row.get("redeliver_after") or 30),
        pull_idle_seconds=float(configured().get("WORKER_PULL_IDLE_SECONDS") or DEFAULT_PULL_IDLE_SECONDS),
        lease_seconds=None if lease is None else float(lease), worker_pid=worker.pid)


def dead_letters(db_url: str) -> list[dict[str, Any]]:
    """The messages in ``work_queue_dlq``: jobs that used up their attempts."""
    with psycopg.connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(queries.DEAD_LETTERS)
        return list(cur.fetchall())
