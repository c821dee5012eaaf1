"""Read-only looks at a provisioned database, for notebook 01 to show that the schema is what it claims.

Every function returns plain rows (lists of dicts) so the notebook can print them without extra libraries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from jobqueue import queries
from jobqueue.settings import Settings

Row = dict[str, Any]
API_FUNCTIONS = ["submit_job", "mark_job_processing", "extend_job_lease", "mark_job_completed", "mark_job_failed",
                 "get_next_job", "retry_failed_jobs", "cleanup_old_jobs", "sweep_work_queue"]


def _rows(settings: Settings, query: str, params: dict[str, Any] | None = None) -> list[Row]:
    with psycopg.connect(settings.db_url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def platform(settings: Settings) -> list[Row]:
    """The extensions the schema needs: present or not, and whether as the extension or the stack's stand-in."""
    return _rows(settings, queries.PLATFORM)


def queues(settings: Settings) -> list[Row]:
    """Every PGMQ queue with its length and whether row level security guards its table."""
    return _rows(settings, queries.QUEUES)


def triggers(settings: Settings) -> list[Row]:
    """The triggers on the work queue (the webhook) and on job_results (the terminal-state guard)."""
    return _rows(settings, queries.TRIGGERS)


def policies(settings: Settings) -> list[Row]:
    """The row level security policies on job_results, and on realtime.messages for the jobs' private topics."""
    return _rows(settings, queries.POLICIES)


def table_grants(settings: Settings) -> list[Row]:
    """What each API role may do with job_results."""
    return _rows(settings, queries.TABLE_GRANTS)


def function_grants(settings: Settings) -> list[Row]:
    """Which API role may call each of the project's functions."""
    return _rows(settings, queries.FUNCTION_GRANTS, {"names": API_FUNCTIONS})


def function_definition(settings: Settings, name: str) -> Row | None:
    """One function as the catalog holds it: signature, stored body (``prosrc``), ``pg_get_functiondef``, and
    whether anon and service_role may call it; None when the database has no such function."""
    rows = _rows(settings, queries.FUNCTION_DEFINITION, {"name": name})
    return rows[0] if rows else None


def trigger_definitions(settings: Settings, name: str) -> list[Row]:
    """The triggers called ``name``, each as ``pg_get_triggerdef`` prints it, and whether it is enabled."""
    return _rows(settings, queries.TRIGGER_DEFINITION, {"name": name})


def cron_jobs(settings: Settings) -> list[Row]:
    """The scheduled jobs (the work-queue sweeper among them)."""
    return _rows(settings, queries.CRON_JOBS)


def database_now(settings: Settings) -> datetime:
    """The database's clock (rows are stamped by it, so runs are delimited by it too)."""
    return _rows(settings, queries.DATABASE_NOW)[0]["now"]


def jobs_since(settings: Settings, since: datetime) -> list[Row]:
    """The jobs created at or after ``since``, oldest first: name, status, attempts, result or error."""
    return _rows(settings, queries.JOBS_SINCE, {"since": since})


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
