"""Small steps notebook 02 takes besides the widgets: apply its parameters, run its own worker, list dead letters."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row

from jobqueue.settings import Settings, configured, local_stack_dir
from jobqueue.worker_process import WorkerProcess, ensure_worker, load_worker, stop_worker

log = structlog.get_logger(__name__)

DEFAULT_FAIL_PATTERN = "^fail-"
DEAD_LETTERS_SQL = ("select msg_id, read_ct, enqueued_at, message->>'job_id' as job_id, "
                    "message->>'task_name' as task_name from pgmq.q_work_queue_dlq order by msg_id")


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


def own_worker(settings: Settings, fresh: bool = True) -> WorkerProcess:
    """A worker process running with these settings: ``fresh`` replaces a running one, else it is reused."""
    if fresh:
        stop_recorded_worker(settings)
    worker = ensure_worker(settings, state_dir=_worker_dir(settings))
    log.info("walkthrough.worker", pid=worker.pid, url=worker.url, fresh=fresh)
    return worker


def dead_letters(db_url: str) -> list[dict[str, Any]]:
    """The messages in ``work_queue_dlq``: jobs that used up their attempts."""
    with psycopg.connect(db_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(DEAD_LETTERS_SQL)
        return list(cur.fetchall())
