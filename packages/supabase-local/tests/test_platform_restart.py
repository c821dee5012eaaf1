"""The dispatcher and the cron runner across outages: requests queued while no dispatcher ran are sent on
start, and both services recover from a database restart. Each test owns a stack, so they are slow."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from stack_support.cli import run_cli
from stack_support.http_recorder import Recorder, recording_server
from supabase_local import postgres
from supabase_local.state import StackState, load_state
from supabase_local.testing import eventually

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def own_stack() -> Iterator[Path]:
    """A stack of this module's own. Its directory is not under pytest's base temp dir, which a concurrent
    pytest session may make private again (mode 0700) while PostgreSQL, running as another user, needs it."""
    with tempfile.TemporaryDirectory(prefix="restart-stack-") as name:
        directory = Path(name)
        started = run_cli(directory, "start")
        assert started.returncode == 0, started.stderr
        yield directory
        run_cli(directory, "stop")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Recorder]]:
    with recording_server() as (url, recorder):
        yield url, recorder


def health(state: StackState) -> dict:
    try:
        return httpx.get(f"{state.supabase_url}/health", timeout=2).json()
    except httpx.HTTPError as err:
        return {"status": f"unreachable: {err}"}


def test_requests_queued_while_the_dispatcher_was_down_are_sent_on_start(own_stack, server):
    url, recorder = server
    state = load_state(own_stack)
    services = psutil.Process(state.services_pid)
    services.terminate()
    services.wait(30)
    with psycopg.connect(state.db_url, autocommit=True) as conn:
        conn.execute("select net.http_post(%s || '/queued?n=' || n) from generate_series(1, 3) n", (url,))
        assert conn.execute("select count(*) from net.http_request_queue").fetchone()[0] == 3
    assert run_cli(own_stack, "start").returncode == 0
    recorder.wait_until(lambda r: len(r.with_path("/queued")) == 3)
    assert sorted(seen.query["n"][0] for seen in recorder.with_path("/queued")) == ["1", "2", "3"]


def test_both_services_survive_a_database_restart(own_stack, server):
    url, recorder = server
    state = load_state(own_stack)
    postgres.stop(state)
    down = eventually(lambda: (h := health(state)).get("status") == "degraded" and h, what="degraded health")
    assert down["services"]["pg_net"] != "ok" and down["services"]["pg_cron"] != "ok"
    postgres.start(state)
    eventually(lambda: health(state).get("status") == "ok", timeout=30, what="healthy again")
    with psycopg.connect(state.db_url, autocommit=True) as conn:
        conn.execute("select net.http_post(%s)", (f"{url}/after-restart",))
        jobid = conn.execute("select cron.schedule('after_restart', '1 seconds', 'select 1')").fetchone()[0]
        eventually(lambda: conn.execute("select count(*) from cron.job_run_details where jobid = %s "
                                        "and status = 'succeeded'", (jobid,)).fetchone()[0],
                   timeout=20, what="a cron run after the restart")
    recorder.wait_until(lambda r: r.with_path("/after-restart"))
