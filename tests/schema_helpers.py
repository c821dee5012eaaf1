"""Small helpers for the schema tests: act as an API role, submit, claim and fail a job, move a lease's clock."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from supabase_local.testing import as_role, call

__all__ = ["as_role", "call", "claim", "count_rows", "expire_lease", "fail", "message", "submit"]


def submit(conn: psycopg.Connection, name: str = "a test job") -> dict[str, Any]:
    """A new pending job with its queued message, as submit_job writes them."""
    return call(conn, "select * from public.submit_job(%(name)s)", {"name": name})[0]


def claim(conn: psycopg.Connection, job: dict[str, Any], lease: int = 60) -> list[dict[str, Any]]:
    """The worker's claim of ``job`` (``mark_job_processing``) under a lease of ``lease`` seconds."""
    return call(conn, "select * from public.mark_job_processing(%(j)s, %(m)s, %(l)s)",
                {"j": job["job_id"], "m": job["msg_id"], "l": lease})


def fail(conn: psycopg.Connection, job: dict[str, Any], error: str = "boom", retry_in: int = 0,
         max_attempts: int | None = None) -> list[dict[str, Any]]:
    """The worker's report that ``job`` failed (``mark_job_failed``): retried after ``retry_in`` seconds, or
    dead-lettered once its attempts reach ``max_attempts``."""
    return call(conn, "select * from public.mark_job_failed(%(j)s, %(e)s, %(r)s, %(m)s)",
                {"j": job["job_id"], "e": error, "r": retry_in, "m": max_attempts})


def expire_lease(conn: psycopg.Connection, msg_id: int) -> None:
    """Make the message visible again now, as if its lease (vt) had run out."""
    call(conn, "update pgmq.q_work_queue set vt = now() - interval '1 second' where msg_id = %(m)s", {"m": msg_id})


def message(conn: psycopg.Connection, queue: str, msg_id: int) -> dict[str, Any] | None:
    """The message with ``msg_id`` in ``queue``'s table, or None."""
    rows = call(conn, sql.SQL("select * from pgmq.{} where msg_id = %(m)s").format(
        sql.Identifier(f"q_{queue}")).as_string(conn), {"m": msg_id})
    return rows[0] if rows else None


def count_rows(conn: psycopg.Connection, task_name: str) -> tuple[int, int]:
    """Job rows and work-queue messages for ``task_name``: a refused submission must add neither."""
    row = call(conn, "select (select count(*) from public.job_results where task_name = %(n)s) as jobs, "
                     "(select count(*) from pgmq.q_work_queue where message->>'task_name' = %(n)s) as messages",
               {"n": task_name})[0]
    return row["jobs"], row["messages"]
