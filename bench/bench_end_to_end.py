"""End to end: ``submit_job`` → trigger → pg_net → worker → ``mark_job_completed``, with no-op jobs.

Starts its own stack in a temporary directory, provisions it, runs the worker process with
``JOB_MAX_SECONDS=0`` and prints, beside the raw PGMQ baseline measured on the same stack in the same run:
  * throughput: jobs per second from the first ``submit_job`` commit to the last ``completed_at``;
  * webhook latency: from a ``submit_job`` commit returning to the worker receiving the POST, one job at a
    time on an idle system (p50/p99), and from the same commit to the job being completed.

    python bench/bench_end_to_end.py [--jobs 500] [--latency-jobs 100] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from datetime import datetime

import bench_pgmq
import psycopg
from _support import percentile, print_figures, temporary_stack

from jobqueue.provision import provision
from jobqueue.settings import load_settings
from jobqueue.worker_process import WorkerProcess, runs, start_worker, stop_worker, worker_env
from supabase_local.state import STATE_DIR_ENV, free_port

DEADLINE_SECONDS = 300.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; give up after the deadline."""
    end = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.002)


def completed(db: psycopg.Connection, job_ids: list[str]) -> int:
    """How many of ``job_ids`` are completed."""
    return db.execute("select count(*) from public.job_results where job_id = any(%s::uuid[]) "
                      "and status = 'completed'", (job_ids,)).fetchone()[0]


def submit(db: psycopg.Connection, name: str) -> str:
    """One job through ``submit_job``, committed on return."""
    return str(db.execute("select job_id from public.submit_job(%s)", (name,)).fetchone()[0])


def throughput(db: psycopg.Connection, jobs: int) -> float:
    """No-op jobs per second from the first submit's commit to the last completion (database clock)."""
    job_ids = [submit(db, f"throughput-{n}") for n in range(jobs)]
    wait_for(lambda: completed(db, job_ids) == jobs, f"{jobs} completions")
    first, last = db.execute("select min(created_at), max(completed_at) from public.job_results "
                             "where job_id = any(%s::uuid[])", (job_ids,)).fetchone()
    return jobs / (last - first).total_seconds()


def latencies(db: psycopg.Connection, worker: WorkerProcess, jobs: int) -> tuple[list[float], list[float]]:
    """Milliseconds from each commit returning to the worker's receipt of the webhook, and to completion."""
    committed: dict[str, float] = {}
    for n in range(jobs):
        job_id = submit(db, f"latency-{n}")
        committed[job_id] = time.time()
        wait_for(lambda job_id=job_id: completed(db, [job_id]) == 1, "a completion")
    received = {run["job_id"]: datetime.fromisoformat(run["received_at"]).timestamp()
                for run in runs(worker, limit=jobs) if run["job_id"] in committed}
    finished = {str(job_id): at.timestamp() for job_id, at in db.execute(
        "select job_id, completed_at from public.job_results where job_id = any(%s::uuid[])",
        (list(committed),)).fetchall()}
    to_worker = [(received[job_id] - at) * 1000 for job_id, at in committed.items()]
    to_done = [(finished[job_id] - at) * 1000 for job_id, at in committed.items()]
    return to_worker, to_done


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Measure on a throwaway stack and worker; print the figures beside the PGMQ baseline and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs submitted back to back for throughput")
    parser.add_argument("--latency-jobs", type=int, default=100, help="jobs sent one at a time for latency")
    parser.add_argument("--concurrency", type=int, default=20, help="the worker's concurrency")
    args = parser.parse_args(argv)
    with temporary_stack() as stack:
        port = free_port()
        settings = dataclasses.replace(load_settings({STATE_DIR_ENV: stack.root}, root=stack.path),
                                       worker_url=f"http://127.0.0.1:{port}/hooks/work-queue")
        provision(settings)
        baseline = bench_pgmq.baseline(settings.db_url)
        env = worker_env(settings) | {"JOB_MIN_SECONDS": "0", "JOB_MAX_SECONDS": "0",
                                      "WORKER_PULL_IDLE_SECONDS": "0", "LOG_LEVEL": "WARNING"}
        worker = start_worker(env, port=port, state_dir=stack.path, concurrency=args.concurrency)
        try:
            with psycopg.connect(settings.db_url, autocommit=True) as db:
                rate = throughput(db, args.jobs)
                to_worker, to_done = latencies(db, worker, args.latency_jobs)
        finally:
            stop_worker(worker)
    print("raw PGMQ on the same stack (one message per transaction)")
    for name, value in baseline.items():
        print(f"  {name:<44} {value:>10}")
    return print_figures(f"bench_end_to_end: no-op jobs, worker concurrency {args.concurrency}", {
        f"submit_job → completed, jobs/s ({args.jobs} jobs)": rate,
        "webhook commit → worker receives, p50 ms": percentile(to_worker, 50),
        "webhook commit → worker receives, p99 ms": percentile(to_worker, 99),
        "one job alone, commit → completed, p50 ms": percentile(to_done, 50),
        "one job alone, commit → completed, p99 ms": percentile(to_done, 99),
    }, decimals=1)


if __name__ == "__main__":
    main()
