"""Chaos under load: a burst of jobs through ``submit_job`` while one thing at a time breaks, each scenario on a
stack of its own with real worker processes. After each: every job completed exactly once, nothing left in
``work_queue``, nothing dead-lettered, and a Realtime watcher that saw the whole run holds every final state.

The measured table (lost, completed twice, extra deliveries, time to recover) is printed at the end and
written to ``artifacts/chaos.md``. ``CHAOS_JOBS`` (default 200), ``CHAOS_RATE`` (jobs per second, default
50) and ``CHAOS_OUTAGE_SECONDS`` (default 5) size the run; ``make chaos`` runs 2,000 jobs and a 30 s outage.
Times are reported, never asserted.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from jobqueue.settings import PROJECT_ROOT
from jobqueue.worker_process import WorkerProcess
from supabase_local import lifecycle, postgres
from supabase_local.state import free_port
from tests.chaos_support import (
    ChaosStack,
    Outcome,
    RealtimeWatcher,
    Submitter,
    chaos_stack,
    markdown_table,
    measure,
    print_outside_capture,
)
from tests.worker_pool import child_pids, wait_children

JOBS = int(os.environ.get("CHAOS_JOBS", "200"))
RATE = float(os.environ.get("CHAOS_RATE", "50"))
OUTAGE_SECONDS = float(os.environ.get("CHAOS_OUTAGE_SECONDS", "5"))
KILL_EVERY_SECONDS = 2.0
DEADLINE = 120.0 + JOBS / 10

pytestmark = [pytest.mark.slow, pytest.mark.chaos, pytest.mark.timeout(int(DEADLINE * 3 + OUTAGE_SECONDS))]

Fault = Callable[[ChaosStack, WorkerProcess, Submitter], float]


@pytest.fixture(scope="module")
def table(request: pytest.FixtureRequest) -> Iterator[list[Outcome]]:
    """Collects each scenario's row; prints the table and writes it to artifacts/chaos.md at the end."""
    outcomes: list[Outcome] = []
    yield outcomes
    if not outcomes:
        return
    text = markdown_table(outcomes)
    artifacts = PROJECT_ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "chaos.md").write_text(f"{JOBS} jobs per scenario at {RATE:g} jobs/s\n\n{text}\n")
    print_outside_capture(request, f"chaos under load: {JOBS} jobs per scenario at {RATE:g} jobs/s\n{text}")


def halfway(submitter: Submitter) -> None:
    """Block until half the burst is submitted."""
    while submitter.submitted < submitter.total // 2 and not submitter.done.is_set():
        submitter.done.wait(0.05)


def run_scenario(name: str, logs: Path, table: list[Outcome], fault: Fault, processes: int = 3,
                 redeliver_after_seconds: int = 2) -> Outcome:
    with chaos_stack(logs, redeliver_after_seconds) as stack:
        worker = stack.start_worker(processes=processes)
        watcher = RealtimeWatcher(stack.state)
        watcher.start()
        assert watcher.ready.wait(30), "the Realtime watcher did not subscribe"
        submitter = Submitter(stack.state, JOBS, RATE)
        submitter.start()
        fault_over = fault(stack, worker, submitter)
        submitter.wait(DEADLINE)
        outcome = measure(stack, name, JOBS, watcher, fault_over, DEADLINE)
        watcher.stop()
    table.append(outcome)
    assert outcome.jobs == JOBS
    assert outcome.lost == 0, outcome
    assert outcome.completed_twice == 0, outcome
    assert outcome.left_in_queue == 0, outcome
    assert outcome.dead_letters == 0, outcome
    assert outcome.realtime_missing == 0, outcome
    return outcome


def kill_children(stack: ChaosStack, worker: WorkerProcess, submitter: Submitter) -> float:
    """SIGKILL one of the worker processes every few seconds while the burst lasts (at least once)."""
    chooser = random.Random(7)
    kills = 0
    while kills == 0 or not submitter.done.is_set():
        submitter.done.wait(KILL_EVERY_SECONDS)
        pids = child_pids(worker)
        if pids:
            os.kill(chooser.choice(sorted(pids)), signal.SIGKILL)
            kills += 1
    last_kill = time.monotonic()
    wait_children(worker, 3)
    return last_kill


def restart_postgres(stack: ChaosStack, worker: WorkerProcess, submitter: Submitter) -> float:
    """Fast shutdown of PostgreSQL halfway through the burst, then start it again."""
    halfway(submitter)
    state = stack.state
    postgres.stop(state, mode="fast")
    postgres.start(state)
    return time.monotonic()


def kill_services(stack: ChaosStack, worker: WorkerProcess, submitter: Submitter) -> float:
    """SIGKILL the services process (gateway, pg_net dispatcher, cron runner) and let ``start`` bring it back."""
    halfway(submitter)
    state = stack.state
    psutil.Process(state.services_pid).kill()
    lifecycle.start(str(stack.directory))
    return time.monotonic()


def refuse_webhooks(stack: ChaosStack, worker: WorkerProcess, submitter: Submitter) -> float:
    """Stop the workers so the webhook port refuses connections for a while, then start them on the same port."""
    halfway(submitter)
    stack.stop_worker(worker)
    threading.Event().wait(OUTAGE_SECONDS)  # the outage itself: nothing listens on the port meanwhile
    stack.start_worker(processes=3)
    return time.monotonic()


def pull_beside_webhooks(stack: ChaosStack, worker: WorkerProcess, submitter: Submitter) -> float:
    """A pull worker on a port of its own competes with two webhook workers for the same jobs."""
    stack.start_worker(pull=True, port=free_port(), WORKER_PULL_INTERVAL_SECONDS="0.1")
    submitter.wait(DEADLINE)
    return time.monotonic()


def test_worker_processes_killed_one_at_a_time(tmp_path, table):
    run_scenario("SIGKILL a worker process every 2 s", tmp_path, table, kill_children)


def test_postgres_restarted_mid_burst(tmp_path, table):
    run_scenario("PostgreSQL fast restart", tmp_path, table, restart_postgres)


def test_services_process_killed_mid_burst(tmp_path, table):
    run_scenario("services process killed, then start", tmp_path, table, kill_services)


def test_webhook_endpoint_refuses_connections(tmp_path, table):
    run_scenario(f"webhook port refusing for {OUTAGE_SECONDS:g} s", tmp_path, table, refuse_webhooks)


def test_pull_worker_beside_webhook_workers(tmp_path, table):
    """No fault here, only competition: a claim is exclusive under its lease, so no job is claimed twice."""
    outcome = run_scenario("1 pull worker + 2 webhook workers", tmp_path, table, pull_beside_webhooks,
                           processes=2)
    assert outcome.extra_runs == 0, outcome
