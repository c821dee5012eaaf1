"""The lab's short database calls, as the project's owner (``SUPABASE_DB_URL``): what an operator's SQL does."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from jobqueue.lab import queries
from jobqueue.settings import Settings

Row = dict[str, Any]


def rows(settings: Settings, query: str, params: dict[str, Any] | None = None) -> list[Row]:
    """Run one statement (committed) and return its rows as dicts."""
    with psycopg.connect(settings.db_url, autocommit=True, row_factory=dict_row) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def consumers(settings: Settings) -> list[Row]:
    """Each consumed queue's cron schedule, batch, visibility timeout, read limit and archive retention."""
    return rows(settings, queries.CONSUMERS)


def set_consumer(settings: Settings, queue: str, schedule: str | None, visibility_seconds: int | None = None,
                 max_reads: int | None = None) -> None:
    """Change a consumer's schedule (None pauses it) and optionally its visibility timeout and read limit,
    then bring pg_cron in line."""
    with psycopg.connect(settings.db_url, autocommit=True) as conn, conn.transaction():
        conn.execute(queries.SET_CONSUMER, {"queue": queue, "schedule": schedule, "visibility": visibility_seconds,
                                            "max_reads": max_reads})
        conn.execute(queries.RESCHEDULE)


def restore_consumers(settings: Settings, saved: list[Row]) -> None:
    """Put back the schedules, visibility timeouts and read limits of ``consumers()`` taken earlier."""
    for row in saved:
        set_consumer(settings, row["queue_name"], row["schedule"], row["visibility_seconds"], row["max_reads"])
