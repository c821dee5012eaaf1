"""A database provisioned before the schema became Supabase CLI migrations upgrades in place: the migrations apply
over it, its jobs and messages survive, and it ends with the same schema as a database made by the migrations."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from jobqueue import queries
from jobqueue.provision import migrations, provision
from jobqueue.settings import Settings
from supabase_local.testing import new_database
from tests.integration.test_provision import snapshot
from tests.schema_helpers import call, submit
from worker.tasks import default_registry

# The sql/ folder as it was before the migrations, frozen: test data, not product code.
BEFORE = Path(__file__).parent / "fixtures" / "sql_before_migrations"
OLD_LEDGER = """
create schema if not exists jobqueue_private;
create table if not exists jobqueue_private.schema_migrations (
  filename text primary key, checksum text not null, applied_at timestamptz not null default now())
"""
JOBS = ("select job_id, status, result, error, attempts, msg_id, job_type, payload from public.job_results "
        "order by job_id")
MESSAGES = ("select 'work_queue' as queue, msg_id, message from pgmq.q_work_queue union all "
            "select 'work_queue_dlq', msg_id, message from pgmq.q_work_queue_dlq order by 1, 2")


def provision_as_before(conninfo: str) -> None:
    """What provisioning did then: each file whole, in its own transaction, recorded with its checksum in its own
    ledger; then the job types from the task registry."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(OLD_LEDGER)
        for path in sorted(BEFORE.glob("*.sql")):
            text = path.read_text(encoding="utf-8")
            with conn.transaction():
                conn.execute(text.encode())
                conn.execute("insert into jobqueue_private.schema_migrations (filename, checksum) values (%s, %s)",
                             (path.name, hashlib.sha256(text.encode()).hexdigest()))
        for row in default_registry().job_type_rows():
            conn.execute(queries.UPSERT_JOB_TYPE, {**row, "payload_schema": Jsonb(row["payload_schema"])})


def jobs_of_every_kind(conn: psycopg.Connection) -> dict[str, dict]:
    """A pending, a completed and a dead-lettered job, written by the old schema's own functions."""
    pending, completed, failed = (submit(conn, name) for name in ("waiting", "done", "dead"))
    for job in (completed, failed):
        call(conn, "select * from public.mark_job_processing(%(j)s, %(m)s)", {"j": job["job_id"], "m": job["msg_id"]})
    call(conn, "select * from public.mark_job_completed(%(j)s, 'ok', '{\"n\": 1}')", {"j": completed["job_id"]})
    call(conn, "select * from public.mark_job_failed(%(j)s, 'boom', 0, null, true)", {"j": failed["job_id"]})
    return {"pending": pending, "completed": completed, "failed": failed}


@pytest.fixture
def old_db(stack) -> Iterator[str]:
    with new_database(stack) as url:
        provision_as_before(url)
        yield url


def test_a_database_provisioned_before_upgrades_with_its_rows(old_db: str, provisioned: Settings):
    with psycopg.connect(old_db, autocommit=True) as conn:
        jobs = jobs_of_every_kind(conn)
        before = (call(conn, JOBS), call(conn, MESSAGES))
    report = provision(replace(provisioned, db_url=old_db))
    assert report.applied == [m.file for m in migrations()]
    with psycopg.connect(old_db, autocommit=True) as conn:
        assert (call(conn, JOBS), call(conn, MESSAGES)) == before
        # Jobs from before users existed belong to nobody: only the service role sees them.
        assert call(conn, "select count(*) as n from public.job_results where user_id is not null") == [{"n": 0}]
        left = call(conn, "select to_regclass('jobqueue_private.schema_migrations') as ledger, "
                          "to_regprocedure('jobqueue_private.hmac_sha256(bytea, bytea)') as hmac, "
                          "to_regprocedure('jobqueue_private.schema_violation(jsonb, jsonb, text)') as checker")[0]
        assert left == {"ledger": None, "hmac": None, "checker": None}
        versions = [row["version"] for row in call(conn, "select version from supabase_migrations.schema_migrations "
                                                         "order by version")]
        assert versions == [m.version for m in migrations()]
        retried = call(conn, "select public.retry_failed_jobs(job_ids => array[%(j)s]::uuid[]) as n",
                       {"j": jobs["failed"]["job_id"]})[0]["n"]
        assert retried == 1
        assert call(conn, "select status from public.job_results where job_id = %(j)s",
                    {"j": jobs["failed"]["job_id"]}) == [{"status": "pending"}]
    assert provision(replace(provisioned, db_url=old_db)).applied == []


def test_the_upgraded_schema_equals_the_one_the_migrations_make(old_db: str, stack, provisioned: Settings):
    provision(replace(provisioned, db_url=old_db))
    with new_database(stack) as fresh:
        provision(replace(provisioned, db_url=fresh))
        assert snapshot(old_db) == snapshot(fresh)
