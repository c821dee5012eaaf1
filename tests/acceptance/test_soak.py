"""Soak: a steady stream of jobs for a while on a stack of its own, then everything must settle back: queues
drained to zero, every job completed, no more database connections than before. Each process's memory (RSS)
at start and end is reported, not asserted.

``SOAK_SECONDS`` (default 15) and ``SOAK_RATE`` (jobs per second offered, default 100) size the run;
``make soak`` offers 200 jobs/s for 60 s (the pipeline takes what the machine sustains; the rest waits queued).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil
import pytest

from jobqueue.settings import PROJECT_ROOT
from supabase_local.state import StackState
from tests.chaos_support import Submitter, chaos_stack, print_outside_capture, query_one, wait_all_completed
from tests.worker_pool import child_pids

SECONDS = float(os.environ.get("SOAK_SECONDS", "15"))
RATE = float(os.environ.get("SOAK_RATE", "100"))
JOBS = int(SECONDS * RATE)
WARM_UP_SECONDS = 5.0
WARM_UP_FACTOR = 1.5
POOL_SLACK = 2
DEADLINE = 120.0 + JOBS / 20

pytestmark = [pytest.mark.slow, pytest.mark.soak, pytest.mark.timeout(int(SECONDS + DEADLINE * 2 + 120))]

CLIENT_BACKENDS = ("select count(*) from pg_stat_activity "
                   "where backend_type = 'client backend' and pid <> pg_backend_pid()")
WHO = ("select string_agg(format('%%s/%%s: %%s', usename, coalesce(nullif(application_name, ''), '-'), n), ', ') "
       "from (select usename, application_name, count(*) as n from pg_stat_activity "
       "      where backend_type = 'client backend' and pid <> pg_backend_pid() group by 1, 2 order by 1, 2) as c")


@dataclass
class Memory:
    name: str
    pid: int
    start_mb: float
    end_mb: float | None = None


def rss_mb(pid: int) -> float | None:
    try:
        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except psutil.NoSuchProcess:
        return None


def postmaster_pid(state: StackState) -> int:
    return int((state.pgdata / "postmaster.pid").read_text().splitlines()[0])


def test_steady_load_settles_back(tmp_path, request):
    with chaos_stack(tmp_path) as stack:
        worker = stack.start_worker(processes=3)
        state = stack.state
        # Warm up above the soak's rate: connection pools grow to their working size under load and keep idle
        # connections for minutes, so the baseline is taken once they have grown. A leak grows past it.
        warm_jobs = int(RATE * WARM_UP_FACTOR * WARM_UP_SECONDS)
        warm = Submitter(state, warm_jobs, RATE * WARM_UP_FACTOR, prefix="warm-up")
        warm.start()
        warm.wait(DEADLINE)
        wait_all_completed(state, warm_jobs, DEADLINE)
        connections_before = query_one(state, CLIENT_BACKENDS)
        who_before = query_one(state, WHO)
        processes = [("worker supervisor", worker.pid),
                     *((f"worker {n}", pid) for n, pid in enumerate(sorted(child_pids(worker)))),
                     ("services", state.services_pid), ("postgres (postmaster)", postmaster_pid(state))]
        memory = [Memory(name, pid, rss_mb(pid) or 0.0) for name, pid in processes]

        started = time.monotonic()
        submitter = Submitter(state, JOBS, RATE, prefix="soak")
        submitter.start()
        submitter.wait(SECONDS + DEADLINE)
        offered_seconds = time.monotonic() - started
        wait_all_completed(state, JOBS + warm_jobs, DEADLINE)
        drained_seconds = time.monotonic() - started
        for entry in memory:
            entry.end_mb = rss_mb(entry.pid)

        left = query_one(state, "select count(*) from pgmq.q_work_queue")
        dead = query_one(state, "select count(*) from pgmq.q_work_queue_dlq")
        end = time.monotonic() + 30
        while (connections_after := query_one(state, CLIENT_BACKENDS)) > connections_before and time.monotonic() < end:
            time.sleep(0.2)
        who_after = query_one(state, WHO)

    lines = [f"soak: {JOBS} jobs offered at {RATE:g}/s over {offered_seconds:.1f} s; all completed after "
             f"{drained_seconds:.1f} s ({JOBS / drained_seconds:.0f} jobs/s sustained); "
             f"client connections {connections_before} before, {connections_after} after",
             f"by user/application: before {who_before}; after {who_after}",
             "| process | pid | RSS start (MB) | RSS end (MB) |", "| --- | --- | --- | --- |",
             *(f"| {m.name} | {m.pid} | {m.start_mb} | {m.end_mb if m.end_mb is not None else 'exited'} |"
               for m in memory)]
    text = "\n".join(lines)
    (PROJECT_ROOT / "artifacts").mkdir(exist_ok=True)
    (PROJECT_ROOT / "artifacts" / "soak.md").write_text(text + "\n")
    print_outside_capture(request, text)
    assert left == 0 and dead == 0
    # A pool may still open a connection or two it had not needed during the warm-up; a leak grows with the work
    # (thousands of jobs here), far past that.
    assert connections_after <= connections_before + POOL_SLACK, text
    assert all(m.end_mb is not None for m in memory), "a process died during the soak"
