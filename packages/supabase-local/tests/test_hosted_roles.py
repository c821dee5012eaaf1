"""The project's login, postgres, has what hosted Supabase gives it and no more: the platform is
supabase_admin's, so what fails for postgres here fails on a hosted project too."""

from __future__ import annotations

import psycopg
import pytest

from supabase_local.state import StackState
from supabase_local.testing import call


def test_postgres_has_supabases_role_attributes(db):
    role = call(db, "select rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin "
                    "from pg_roles where rolname = current_user")[0]
    assert call(db, "select current_user as u")[0]["u"] == "postgres"
    assert role == {"rolsuper": False, "rolcreatedb": True, "rolcreaterole": True, "rolreplication": True,
                    "rolbypassrls": True, "rolcanlogin": True}


def test_supabase_admin_is_the_superuser_that_owns_the_platform(admin_db):
    owners = call(admin_db, """
        select n.nspname as schema, pg_get_userbyid(n.nspowner) as owner from pg_namespace n
        where n.nspname in ('pgmq', 'net', 'cron', 'vault', 'realtime', 'pgmq_public') order by 1""")
    assert {row["owner"] for row in owners} == {"supabase_admin"} and len(owners) == 6
    assert call(admin_db, "select rolsuper from pg_roles where rolname = 'supabase_admin'")[0]["rolsuper"] is True
    assert call(admin_db, "select count(*) as n from pg_event_trigger where evtowner <> "
                          "'supabase_admin'::regrole")[0]["n"] == 0


def test_the_status_url_is_the_projects_postgres(stack: StackState):
    assert stack.env()["SUPABASE_DB_URL"].startswith("postgresql://postgres:")
    assert stack.admin_url.startswith("postgresql://supabase_admin:")


FORBIDDEN = [
    "drop function pgmq.format_table_name(text, text)",
    "create or replace function pgmq.format_table_name(queue_name text, prefix text) returns text "
    "language sql as $$ select 'x' $$",
    "alter function net.http_post(text, jsonb, jsonb, jsonb, integer) security invoker",
    "alter role supabase_admin nosuperuser",
    "alter role postgres superuser",
    "create event trigger sneaky on ddl_command_end execute function realtime.on_ddl()",
    "drop event trigger realtime_publication_sync",
    "delete from cron.job",
    "insert into cron.job (schedule, command, username) values ('* * * * *', 'select 1', 'supabase_admin')",
    "select cron._schedule_for('supabase_admin', 'escalate', '* * * * *', 'select 1')",
    "drop table vault.secrets",
    "update vault.secrets set name = 'x'",
    "create extension if not exists pg_stat_statements",
]


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_postgres_cannot_change_what_hosted_supabase_keeps_for_itself(db, statement):
    """Hosted Supabase (with supautils) may let postgres create event triggers on functions it owns; the
    stack is stricter there, and both refuse the platform's own event triggers and functions."""
    with db.transaction(force_rollback=True), pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(statement)


def test_postgres_cannot_alter_the_system(db):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("alter system set work_mem = '64MB'")


def test_postgres_schedules_cron_jobs_that_run_as_postgres(db):
    jobid = call(db, "select cron.schedule('roles_probe', '@daily', 'select 1') as id")[0]["id"]
    try:
        assert call(db, "select username from cron.job where jobid = %(j)s", {"j": jobid}) == [{"username": "postgres"}]
    finally:
        assert call(db, "select cron.unschedule('roles_probe') as done")[0]["done"] is True


def test_postgres_uses_vault_as_on_supabase(db):
    with db.transaction(force_rollback=True):
        secret_id = call(db, "select vault.create_secret('s3cret', 'roles_probe', 'a probe') as id")[0]["id"]
        call(db, "select vault.update_secret(%(id)s, 'changed')", {"id": secret_id})
        row = call(db, "select name, description, secret, decrypted_secret from vault.decrypted_secrets "
                       "where id = %(id)s", {"id": secret_id})[0]
        assert (row["name"], row["description"], row["decrypted_secret"]) == ("roles_probe", "a probe", "changed")
        assert row["secret"] != "changed"
