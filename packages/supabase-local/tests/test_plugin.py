"""The pytest plugin as another project meets it: a venv with only this package, an app with one migration, one
RLS policy and a seed, and tests that use nothing but the plugin's fixtures."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from stack_support.realtime import published_table
from supabase_local.migrations import MigrationError, apply_project, migration_files
from supabase_local.state import StackState
from supabase_local.testing import (
    SupabaseStack,
    TargetError,
    chosen_target,
    hosted_stack,
    new_database,
    subscribed,
)

PACKAGE = Path(__file__).resolve().parents[1]
EXAMPLE = Path(__file__).resolve().parent / "example_project"


def test_a_throwaway_project_passes_with_only_this_package_installed():
    with tempfile.TemporaryDirectory(prefix="supabase-local-app-") as tmp:
        app = Path(tmp) / "app"
        shutil.copytree(EXAMPLE, app)
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        installed = subprocess.run([python, "-m", "pip", "install", "--quiet", str(PACKAGE)],
                                   capture_output=True, text=True, check=False)
        assert installed.returncode == 0, installed.stderr[-2000:]
        run = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=app,
                             capture_output=True, text=True, timeout=600, check=False)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert "2 passed" in run.stdout


def test_migrations_are_recorded_where_the_cli_records_them_and_applied_once(stack: StackState):
    with new_database(stack) as url:
        first = apply_project(url, EXAMPLE)
        again = apply_project(url, EXAMPLE)
        with psycopg.connect(url) as conn:
            history = conn.execute("select version, name, statements is not null "
                                   "from supabase_migrations.schema_migrations").fetchall()
            notes = conn.execute("select count(*) from public.notes").fetchone()[0]
    assert first.applied == ["20261205000000_notes.sql"] and first.seeded
    assert again.applied == [] and again.already_applied == first.applied and not again.seeded
    assert history == [("20261205000000", "notes", True)]
    assert notes == 2, "the seed ran once"


def test_a_failing_migration_names_its_file_and_records_nothing(stack: StackState, tmp_path: Path):
    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "20261205000001_broken.sql").write_text("create table nope (id int;")
    with new_database(stack) as url:
        with pytest.raises(MigrationError, match=r"20261205000001_broken\.sql failed: syntax error"):
            apply_project(url, tmp_path)
        with psycopg.connect(url) as conn:
            assert conn.execute("select count(*) from supabase_migrations.schema_migrations").fetchone()[0] == 0


def test_a_migration_named_unlike_the_cli_is_refused(tmp_path: Path):
    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "init.sql").write_text("select 1")
    with pytest.raises(MigrationError, match=r"init\.sql: a migration.s name must be <digits>_<name>\.sql"):
        migration_files(tmp_path)


def test_targets_are_named_and_a_hosted_one_needs_every_variable():
    assert chosen_target(None, {}) == "embedded"
    assert chosen_target(None, {"SUPABASE_TEST_TARGET": "running"}) == "running"
    with pytest.raises(TargetError, match="must be one of embedded, running, env, got 'docker'"):
        chosen_target("docker", {})
    with pytest.raises(TargetError, match="needs SUPABASE_ANON_KEY, SUPABASE_DB_URL"):
        hosted_stack({"SUPABASE_URL": "https://x.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "k"})
    hosted = hosted_stack({"SUPABASE_URL": "https://x.supabase.co/", "SUPABASE_ANON_KEY": "a",
                           "SUPABASE_SERVICE_ROLE_KEY": "s", "SUPABASE_DB_URL": "postgresql://db"})
    assert hosted == SupabaseStack("https://x.supabase.co", "a", "s", "postgresql://db", "env")
    assert not hosted.embedded


def test_sync_clients_act_as_anon_and_as_the_service_role(supabase_anon, supabase_service, db):
    with published_table(db, "id int primary key, secret boolean not null") as name:
        db.execute(sql.SQL("alter table {} enable row level security").format(sql.Identifier(name)))
        db.execute(sql.SQL("create policy open_rows on {} for select to anon using (not secret)").format(
            sql.Identifier(name)))
        db.execute(sql.SQL("grant select on {} to anon").format(sql.Identifier(name)))
        db.execute(sql.SQL("insert into {} values (1, false), (2, true)").format(sql.Identifier(name)))
        db.execute("notify pgrst, 'reload schema'")
        assert [row["id"] for row in supabase_anon.table(name).select("id").execute().data] == [1]
        assert sorted(row["id"] for row in supabase_service.table(name).select("id").order("id").execute().data) \
            == [1, 2]


def test_the_rollback_fixture_leaves_nothing_behind(supabase_db, db):
    supabase_db.execute("create table public.plugin_rollback_probe (id int)")
    assert db.execute("select to_regclass('public.plugin_rollback_probe')").fetchone()[0] is None


async def test_async_clients_subscribe_to_realtime(asupabase_anon, asupabase_service, supabase_stack):
    states = await subscribed(asupabase_anon.channel("plugin-probe"))
    await eventually_async(lambda: states)
    assert states[0][0] == "SUBSCRIBED"
    assert asupabase_service.supabase_key == supabase_stack.service_role_key


async def eventually_async(probe, timeout: float = 10.0):
    """Wait on the event loop (not by blocking it) until ``probe`` is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        assert asyncio.get_running_loop().time() < deadline, "not within the deadline"
        await asyncio.sleep(0.02)


def test_a_signed_in_user_is_an_anonymous_authenticated_user_to_the_database(supabase_user, db):
    db.execute("create or replace function public.plugin_whoami() returns jsonb language sql stable as $$ "
               "select jsonb_build_object('uid', auth.uid(), 'role', auth.role()) $$")
    db.execute("notify pgrst, 'reload schema'")
    try:
        user = supabase_user.auth.get_user().user
        assert user.is_anonymous
        assert supabase_user.rpc("plugin_whoami").execute().data == {"uid": user.id, "role": "authenticated"}
    finally:
        db.execute("drop function public.plugin_whoami()")


async def test_the_async_user_is_signed_in(asupabase_user):
    session = await asupabase_user.auth.get_session()
    assert session is not None and session.user.is_anonymous
