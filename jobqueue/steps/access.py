"""Notebook 01's access summary read line by line: what each API role can still reach on the platform schemas,
what that lets it do, and why that is safe; and the proof for the queue, tried as ``anon``.

Provisioning revokes every grant it may on ``pgmq``, ``pgmq_public``, ``net``, ``cron`` and ``vault``. What is
left was granted by the platform (Supabase's own roles), and ``postgres``, not a superuser on hosted projects,
cannot revoke another grantor's grant. It is listed, not hidden, and each line says what stops its misuse.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from jobqueue import queries
from jobqueue.settings import Settings

Row = dict[str, Any]
INSUFFICIENT_PRIVILEGE = "42501"

# (schema, privilege) -> (what it lets the role do, why that is safe here)
_MEANING: dict[tuple[str, str], tuple[str, str]] = {
    ("pgmq", "usage"): ("name objects in pgmq", "usage opens no table and runs no function by itself"),
    ("pgmq", "execute"): ("call PGMQ's functions (send, read, archive, ...)",
                          "they run with the caller's rights, and anon and authenticated hold no privilege on any "
                          "queue table (RLS on, no policies): the calls are refused, as the next cell shows"),
    ("pgmq", "tables"): ("read or write these queue tables directly",
                         "row level security is on with no policy for these roles, so they see no row"),
    ("pgmq_public", "usage"): ("name the pgmq_public wrappers", "this project never exposes pgmq_public"),
    ("net", "usage"): ("name objects in net", "usage opens no table and runs no function by itself"),
    ("net", "execute"): ("ask pg_net for an HTTP request from the database",
                         "no request the role makes is a webhook the worker accepts: only jobqueue_private.deliver "
                         "holds the secret that signs them (step 5). Revoke it in the dashboard if unused"),
    ("cron", "usage"): ("name objects in cron", "usage opens no table and runs no function by itself"),
    ("cron", "execute"): ("call pg_cron's functions",
                          "a job runs as the role that scheduled it, so it can do no more than the caller could"),
    ("vault", "usage"): ("name objects in vault",
                         "reading a secret needs a table grant, which would be listed as a 'tables' line of vault"),
}
_PLATFORM = ("the platform's grant, which postgres cannot revoke",
             "nothing of this project relies on it; review it under Database → Roles")


def access_explained(settings: Settings) -> list[Row]:
    """One row per line of the summary: role, schema, what it may reach, what that allows, why it is safe."""
    with psycopg.connect(settings.db_url, row_factory=dict_row) as conn:
        rows = conn.execute(queries.PLATFORM_ACCESS_LEFT).fetchall()
    explained = []
    for row in rows:
        objects = list(row["objects"] or [])
        listed = ", ".join(objects[:2]) + (", …" if len(objects) > 2 else "")
        reach = (f"usage on schema {row['schema_name']}" if row["privilege"] == "usage"
                 else f"{row['privilege']} on {len(objects)} ({listed})")
        allows, safe = _MEANING.get((row["schema_name"], row["privilege"]), _PLATFORM)
        explained.append({"role": row["role_name"], "schema": row["schema_name"], "may reach": reach,
                          "which lets it": allows, "why that is safe": safe})
    return explained


def queue_refused_to_anon(settings: Settings, queue: str = "work_queue") -> list[Row]:
    """Call ``pgmq.send`` and ``pgmq.read`` as ``anon`` (``set local role``, rolled back): each must be refused."""
    attempts = [("pgmq.send", queries.SEND_MESSAGE, {"queue": queue, "message": "{}"}),
                ("pgmq.read", queries.READ_MESSAGE, {"queue": queue, "vt": 30})]
    results = []
    with psycopg.connect(settings.db_url, row_factory=dict_row) as conn:
        for call, statement, params in attempts:
            try:
                with conn.transaction(force_rollback=True):
                    conn.execute(queries.ACT_AS_ANON)
                    conn.execute(statement, params)
            except psycopg.errors.InsufficientPrivilege as err:
                results.append({"as anon": f"{call}('{queue}', ...)", "sqlstate": err.sqlstate,
                                "refused with": err.diag.message_primary})
                continue
            raise RuntimeError(f"anon could call {call} on {queue}: provision again and check the grants")
    return results
