"""The stack's command line: start, status, stop, restart with data intact, and bad use."""

from __future__ import annotations

import socket

import psutil
import psycopg
import pytest

from stack_support.cli import run_cli, running_stack
from supabase_local import bootstrap
from supabase_local.state import StackState, load_state


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
        # The grant is the platform's (supabase_admin's), so only it can take it back, as on Supabase.
        with psycopg.connect(state.admin_url, autocommit=True) as admin:
            admin.execute("revoke execute on function net.http_post(text, jsonb, jsonb, jsonb, int) from anon")
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


def _kill(pid: int) -> None:
    proc = psutil.Process(pid)
    proc.kill()
    proc.wait(10)


@pytest.mark.slow
def test_killed_services_are_reported_and_restarted_by_start():
    with running_stack() as directory:
        before = load_state(directory)
        _kill(before.services_pid)
        shown = run_cli(directory, "status")
        assert shown.returncode == 1
        assert "the gateway process is not running" in shown.stderr
        assert run_cli(directory, "start").returncode == 0
        after = load_state(directory)
        assert after.services_pid != before.services_pid
        assert after.gateway_port == before.gateway_port
        assert run_cli(directory, "status").returncode == 0


@pytest.mark.slow
def test_killed_postgres_is_restarted_by_start_with_data_intact():
    with running_stack() as directory:
        state = load_state(directory)
        with psycopg.connect(state.db_url, autocommit=True) as conn:
            conn.execute("create table survivor (n int)")
            conn.execute("insert into survivor values (42)")
        postmaster = int((state.pgdata / "postmaster.pid").read_text().splitlines()[0])
        _kill(postmaster)
        assert run_cli(directory, "status").returncode == 1
        started = run_cli(directory, "start")
        assert started.returncode == 0, started.stderr
        state = load_state(directory)
        with psycopg.connect(state.db_url, autocommit=True) as conn:
            assert conn.execute("select n from survivor").fetchone()[0] == 42


@pytest.mark.slow
def test_a_taken_gateway_port_is_reported_and_another_one_used():
    with running_stack() as directory:
        old_port = load_state(directory).gateway_port
        assert run_cli(directory, "stop").returncode == 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            squatter.bind(("127.0.0.1", old_port))
            squatter.listen()
            started = run_cli(directory, "start")
        assert started.returncode == 0, started.stderr
        assert "port.moved" in started.stderr and "taken by another program" in started.stderr
        new_port = load_state(directory).gateway_port
        assert new_port != old_port
        assert f"127.0.0.1:{new_port}" in started.stdout
