"""The stack's command line: start, status, stop, restart with data intact, and bad use."""

from __future__ import annotations

import psycopg
import pytest

from supabase_local import bootstrap
from supabase_local.state import StackState, load_state
from tests.conftest import run_cli, running_stack


def test_status_env_prints_every_variable(stack: StackState, stack_dir):
    shown = run_cli(stack_dir, "status", "-o", "env")
    assert shown.returncode == 0, shown.stderr
    pairs = dict(line.split("=", 1) for line in shown.stdout.strip().splitlines())
    assert set(pairs) == {"SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY",
                          "SUPABASE_DB_URL", "SUPABASE_JWT_SECRET"}
    assert pairs["SUPABASE_URL"] == stack.supabase_url
    assert pairs["SUPABASE_DB_URL"].startswith("postgresql://postgres:")


def test_second_start_reports_the_running_stack(stack: StackState, stack_dir):
    again = run_cli(stack_dir, "start")
    assert again.returncode == 0, again.stderr
    assert stack.supabase_url in again.stdout
    assert load_state(stack_dir).services_pid == stack.services_pid


def test_supabase_shape(db: psycopg.Connection):
    roles = dict(db.execute(
        "select rolname, array[rolcanlogin, rolbypassrls] from pg_roles "
        "where rolname in ('anon','authenticated','service_role','authenticator')").fetchall())
    assert roles == {"anon": [False, False], "authenticated": [False, False],
                     "service_role": [False, True], "authenticator": [True, False]}
    assert db.execute("select count(*) from pg_publication where pubname = 'supabase_realtime'").fetchone()[0] == 1
    assert db.execute("show wal_level").fetchone()[0] == "logical"
    assert db.execute("select to_regnamespace('extensions') is not null").fetchone()[0]


def test_pgmq_install_is_guarded(db: psycopg.Connection):
    assert bootstrap.install_pgmq(db) is False
    db.execute("select pgmq.create('cli_guard_probe')")
    msg_id = db.execute("select * from pgmq.send('cli_guard_probe', '{\"a\": 1}')").fetchone()[0]
    assert msg_id >= 1
    db.execute("select pgmq.drop_queue('cli_guard_probe')")


def test_bad_cli_use_is_reported(stack_dir):
    unknown = run_cli(stack_dir, "explode")
    assert unknown.returncode == 2
    assert "invalid choice" in unknown.stderr


def test_status_of_a_never_started_stack(tmp_path):
    shown = run_cli(tmp_path / "nothing", "status", "-o", "env")
    assert shown.returncode == 1
    assert "never started" in shown.stderr
    assert shown.stdout == ""


@pytest.mark.slow
def test_stop_and_start_keep_queue_messages_and_revokes():
    with running_stack() as directory:
        state = load_state(directory)
        with psycopg.connect(state.db_url, autocommit=True) as conn:
            conn.execute("select pgmq.create('kept')")
            conn.execute("select pgmq.send('kept', '{\"n\": 7}')")
            conn.execute("revoke execute on function net.http_post(text, jsonb, jsonb, jsonb, int) from anon")
        stopped = run_cli(directory, "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert run_cli(directory, "status").returncode == 1
        assert run_cli(directory, "start").returncode == 0
        state = load_state(directory)
        with psycopg.connect(state.db_url, autocommit=True) as conn:
            (message,) = conn.execute("select message from pgmq.read('kept', 0, 1)").fetchone()
            revoked_still = not conn.execute(
                "select has_function_privilege('anon', 'net.http_post(text,jsonb,jsonb,jsonb,int)', 'execute')"
            ).fetchone()[0]
        assert message == {"n": 7}
        assert revoked_still, "a restart must not give back what a project revoked"
