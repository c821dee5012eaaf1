"""Provisioning: migrations applied once each and recorded as the Supabase CLI records them; an applied file
that changed is refused; failures name their file; the preflight names what a project must enable."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from jobqueue import introspect
from jobqueue.provision import MIGRATIONS_DIR, ProvisionError, migrations, provision
from jobqueue.settings import Settings
from supabase_local.testing import new_database
from tests.schema_helpers import as_role, call

SNAPSHOT = {
    "schemas": "select nspname, nspacl::text from pg_namespace where nspname not like 'pg\\_%' order by 1",
    "relations": """select n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relacl::text
                    from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where n.nspname in ('public', 'jobqueue_private', 'pgmq', 'pgmq_public', 'net', 'cron')
                    order by 1, 2""",
    "functions": """select n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc),
                           p.prosecdef, p.proconfig::text, p.proacl::text
                    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                    where n.nspname in ('public', 'jobqueue_private', 'pgmq', 'pgmq_public', 'net', 'cron')
                    order by 1, 2, 3""",
    "constraints": """select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint
                      where connamespace in ('public'::regnamespace, 'jobqueue_private'::regnamespace) order by 1, 2""",
    "indexes": "select schemaname, indexname, indexdef from pg_indexes "
               "where schemaname in ('public', 'jobqueue_private', 'pgmq') order by 1, 2",
    "triggers": """select tgrelid::regclass::text, tgname, tgfoid::regproc::text, tgenabled from pg_trigger
                   where not tgisinternal order by 1, 2""",
    "policies": "select schemaname, tablename, policyname, cmd, roles::text, qual from pg_policies order by 1, 2, 3",
    "publication": "select schemaname, tablename from pg_publication_tables where pubname = 'supabase_realtime' "
                   "order by 1, 2",
    "cron": "select jobid, jobname, schedule, command from cron.job order by jobid",
    "settings": "select key, value from jobqueue_private.settings order by key",
    "vault": "select name, description, decrypted_secret from vault.decrypted_secrets order by name",
    "queues": "select queue_name from pgmq.meta order by 1",
}


def snapshot(db_url: str) -> dict[str, list[tuple]]:
    """The catalog facts a migration could change, comparable between two runs."""
    with psycopg.connect(db_url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in SNAPSHOT.items()}


@pytest.fixture
def fresh_db(stack) -> Iterator[str]:
    """A new database shaped like a Supabase project (roles, PGMQ, pg_net, pg_cron), without the job schema."""
    with new_database(stack) as url:
        yield url


@pytest.fixture
def bare_db(stack) -> Iterator[str]:
    """A new, empty database: no PGMQ, no pg_net, no pg_cron."""
    with new_database(stack, with_platform=False) as url:
        yield url


HISTORY = "select version, name, statements from supabase_migrations.schema_migrations order by version"


def test_migrations_are_recorded_as_the_supabase_cli_records_them(fresh_db, provisioned: Settings):
    settings = replace(provisioned, db_url=fresh_db)
    first = provision(settings)
    assert first.applied == [m.file for m in migrations()]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute(HISTORY).fetchall() == [(m.version, m.name, m.statements) for m in migrations()]
        columns = conn.execute("select column_name, data_type, is_nullable from information_schema.columns "
                               "where table_schema = 'supabase_migrations' and table_name = 'schema_migrations' "
                               "order by ordinal_position").fetchall()
    assert columns == [("version", "text", "NO"), ("statements", "ARRAY", "YES"), ("name", "text", "YES")]
    after_first = snapshot(fresh_db)
    second = provision(settings)
    assert (second.applied, second.settings_changed) == ([], [])
    assert second.unchanged == first.applied
    assert snapshot(fresh_db) == after_first


def test_only_a_new_migration_is_applied(fresh_db, provisioned: Settings, tmp_path: Path):
    settings = replace(provisioned, db_url=fresh_db)
    provision(settings)
    shutil.copytree(MIGRATIONS_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "20991231000000_later.sql").write_text("create table public.later (id int);\n-- the end\n")
    report = provision(settings, tmp_path)
    assert report.applied == ["20991231000000_later.sql"]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute(HISTORY).fetchall()[-1] == ("20991231000000", "later",
                                                        ["create table public.later (id int)", "-- the end"])


def test_a_changed_applied_migration_is_refused(fresh_db, provisioned: Settings, tmp_path: Path):
    settings = replace(provisioned, db_url=fresh_db)
    provision(settings)
    shutil.copytree(MIGRATIONS_DIR, tmp_path, dirs_exist_ok=True)
    edited = next(tmp_path.glob("*_job_results.sql"))
    edited.write_text(edited.read_text() + "\ncomment on table public.job_results is 'edited';\n")
    (tmp_path / "20991231000000_later.sql").write_text("create table public.later (id int);\n")
    with pytest.raises(ProvisionError, match=rf"{edited.name} was changed after it was applied.*add a new migration"):
        provision(settings, tmp_path)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select to_regclass('public.later')").fetchone()[0] is None


def test_a_file_not_named_as_the_cli_expects_is_refused(tmp_path: Path):
    (tmp_path / "old_style.sql").write_text("select 1;\n")
    with pytest.raises(ProvisionError, match=r"old_style\.sql is not named <timestamp>_<name>\.sql"):
        migrations(tmp_path)


def test_missing_extensions_are_named_plainly(bare_db, provisioned: Settings):
    with pytest.raises(ProvisionError) as failure:
        provision(replace(provisioned, db_url=bare_db))
    message = str(failure.value)
    assert "_preflight.sql" in message
    for name in ("pgmq", "pg_net", "pg_cron", "pgcrypto", "pg_jsonschema", "Supabase Vault", "create extension"):
        assert name in message


@pytest.mark.parametrize(("version", "refused"), [("1.4.2", True), ("1.5", False), ("1.6.4", False)])
def test_the_preflight_refuses_a_pg_cron_too_old_for_the_sweeper(fresh_db, version: str, refused: bool):
    """pg_cron before 1.5 has no schedules in seconds. The preflight reads pg_extension unqualified, so a view
    of that name placed ahead of pg_catalog on the search path shows it the version under test."""
    preflight = migrations()[0]
    with psycopg.connect(fresh_db, autocommit=True) as conn, conn.transaction(force_rollback=True):
        conn.execute("create schema older")
        conn.execute(sql.SQL("create view older.pg_extension as select 'pg_cron'::name as extname, "
                             "{}::text as extversion").format(sql.Literal(version)))
        conn.execute("set local search_path = older, pg_catalog")
        if refused:
            with pytest.raises(psycopg.errors.RaiseException, match=rf"pg_cron 1\.5 or later .* pg_cron {version}"):
                conn.execute(preflight.text.encode())
        else:
            conn.execute(preflight.text.encode())


def test_a_failing_migration_is_named_and_not_recorded(db, provisioned: Settings, tmp_path: Path):
    shutil.copytree(MIGRATIONS_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "20991231000000_broken.sql").write_text(
        "create table public.never_made (id int);\nselect * from no_such_table;\n")
    with pytest.raises(ProvisionError, match=r"20991231000000_broken\.sql.*no_such_table"):
        provision(provisioned, tmp_path)
    assert call(db, "select to_regclass('public.never_made') as t")[0]["t"] is None
    assert call(db, "select count(*) as n from supabase_migrations.schema_migrations where version = '20991231000000'"
                )[0]["n"] == 0


def test_settings_are_written_and_only_changes_reported(db, provisioned: Settings):
    provision(provisioned)  # a notebook run may have written other values meanwhile
    try:
        report = provision(replace(provisioned, max_attempts=9))
        assert report.settings_changed == ["max_attempts"]
        assert call(db, "select jobqueue_private.max_attempts() as n")[0]["n"] == 9
    finally:
        provision(provisioned)
    assert call(db, "select jobqueue_private.max_attempts() as n")[0]["n"] == provisioned.max_attempts


def test_provision_takes_back_what_postgres_granted_the_api_roles(db, provisioned: Settings):
    db.execute("grant usage on schema cron to anon")
    db.execute("grant select on pgmq.q_work_queue to anon")
    provision(provisioned)
    allowed = call(db, "select has_schema_privilege('anon', 'cron', 'usage') as schema, "
                       "has_table_privilege('anon', 'pgmq.q_work_queue', 'select') as tables")[0]
    assert allowed == {"schema": False, "tables": False}


def test_provision_reports_what_the_platform_granted_and_postgres_cannot_revoke(admin_db, provisioned: Settings):
    """As on hosted Supabase, pg_net's grants to the API roles are supabase_admin's: a revoke by postgres
    changes nothing and PostgreSQL does not say so, so provisioning lists them plainly."""
    admin_db.execute("grant select on net._http_response to authenticated")
    try:
        report = provision(provisioned)
        assert any(line.startswith("authenticated: tables on 1 in net (net._http_response)")
                   for line in report.api_access_left), report.api_access_left
        assert any(line.startswith("anon: execute on 3 in net") for line in report.api_access_left)
        assert "API roles still reach" in report.summary()
    finally:
        admin_db.execute("revoke select on net._http_response from authenticated")
    assert not any("_http_response" in line for line in provision(provisioned).api_access_left)


def test_the_webhook_secret_lives_in_vault_not_in_plain_text(db, provisioned: Settings):
    stored = call(db, "select decrypted_secret, secret from vault.decrypted_secrets "
                      "where name = 'test_queue_webhook_secret'")
    assert [row["decrypted_secret"] for row in stored] == [provisioned.webhook_secret]
    assert stored[0]["secret"] != provisioned.webhook_secret
    assert call(db, "select count(*) as n from jobqueue_private.settings where key = 'webhook_secret'")[0]["n"] == 0
    assert call(db, "select jobqueue_private.webhook_secret() as s")[0]["s"] == provisioned.webhook_secret
    with as_role(db, "service_role") as cur, pytest.raises(psycopg.errors.InsufficientPrivilege):
        cur.execute("select * from vault.decrypted_secrets")


def test_a_new_webhook_secret_updates_the_vault_entry(db, provisioned: Settings):
    other = "whsec_" + base64.b64encode(b"b" * 32).decode()
    try:
        assert "webhook_secret" in provision(replace(provisioned, webhook_secret=other)).settings_changed
        assert call(db, "select jobqueue_private.webhook_secret() as s")[0]["s"] == other
        assert call(db, "select count(*) as n from vault.secrets where name = 'test_queue_webhook_secret'"
                    )[0]["n"] == 1
    finally:
        provision(provisioned)


def test_the_cron_history_cleanup_is_scheduled_once(db, provisioned: Settings):
    jobs = call(db, "select schedule, command, username from cron.job where jobname = 'cron_run_details_cleanup'")
    assert jobs == [{"schedule": "17 3 * * *", "username": "postgres",
                     "command": "delete from cron.job_run_details where end_time < now() - interval '7 days'"}]


def test_the_platform_table_says_what_provides_each_extension(provisioned: Settings):
    rows = {row["component"]: (row["present"], row["provided_by"]) for row in introspect.platform(provisioned)}
    assert set(rows) == {"pgmq", "pg_net", "pg_cron", "pgcrypto", "pg_jsonschema", "supabase_vault"}
    assert rows["pgcrypto"] == rows["pg_jsonschema"] == (True, "stand-in (embedded stack)")
