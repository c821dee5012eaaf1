"""Read-only looks at a provisioned database, for notebook 01 to show that the schema is what it claims.

Every function returns plain rows (lists of dicts) so the notebook can print them without extra libraries.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from postgrest.exceptions import APIError
from psycopg.rows import dict_row

from jobqueue import queries
from jobqueue.jobs import anon_client
from jobqueue.settings import Settings

Row = dict[str, Any]
INSUFFICIENT_PRIVILEGE = "42501"
API_FUNCTIONS = ["submit_job", "mark_job_processing", "extend_job_lease", "mark_job_completed", "mark_job_failed",
                 "get_next_job", "retry_failed_jobs", "cleanup_old_jobs", "sweep_work_queue"]


def _rows(settings: Settings, query: str, params: dict[str, Any] | None = None) -> list[Row]:
    with psycopg.connect(settings.db_url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def platform(settings: Settings) -> list[Row]:
    """PGMQ, pg_net and pg_cron: present or not, and whether as an extension or the stack's schema."""
    return _rows(settings, queries.PLATFORM)


def queues(settings: Settings) -> list[Row]:
    """Every PGMQ queue with its length and whether row level security guards its table."""
    return _rows(settings, queries.QUEUES)


def triggers(settings: Settings) -> list[Row]:
    """The triggers on the work queue (the webhook) and on job_results (the terminal-state guard)."""
    return _rows(settings, queries.TRIGGERS)


def policies(settings: Settings) -> list[Row]:
    """The row level security policies on job_results."""
    return _rows(settings, queries.POLICIES)


def table_grants(settings: Settings) -> list[Row]:
    """What each API role may do with job_results."""
    return _rows(settings, queries.TABLE_GRANTS)


def function_grants(settings: Settings) -> list[Row]:
    """Which API role may call each of the project's functions."""
    return _rows(settings, queries.FUNCTION_GRANTS, {"names": API_FUNCTIONS})


def cron_jobs(settings: Settings) -> list[Row]:
    """The scheduled jobs (the work-queue sweeper among them)."""
    return _rows(settings, queries.CRON_JOBS)


def queue_round_trip(settings: Settings, queue: str = "setup_check") -> Row:
    """Create a scratch queue, send one message, read it back, drop the queue: PGMQ at work, nothing left over."""
    message = {"hello": "pgmq"}
    with psycopg.connect(settings.db_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(queries.CREATE_QUEUE, {"queue": queue})
        try:
            sent = conn.execute(queries.SEND_MESSAGE, {"queue": queue, "message": json.dumps(message)}).fetchone()
            read = conn.execute(queries.READ_MESSAGE, {"queue": queue, "vt": 30}).fetchone()
        finally:
            conn.execute(queries.DROP_QUEUE, {"queue": queue})
    return {"queue": queue, "sent_msg_id": sent["msg_id"], "read_msg_id": read["msg_id"],
            "read_count": read["read_ct"], "message": read["message"]}


def anon_insert_refused(settings: Settings) -> str:
    """Try to insert a job_results row with the anon key, as an attacker would; return the refusal."""
    row = {"task_name": "written directly", "status": "completed"}
    try:
        anon_client(settings).table("job_results").insert(row).execute()
    except APIError as err:
        if err.code != INSUFFICIENT_PRIVILEGE:
            raise
        return f"refused: {err.code} {err.message}"
    raise RuntimeError("anon could insert into job_results: the grants are wrong, provision again")


def text_table(rows: list[Row]) -> str:
    """Rows as an aligned plain-text table (the notebook prints it)."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[str(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(line[i]) for line in cells)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)
