"""What watching a user's jobs on their private topic costs each process, per job, at a steady pace.

The end-to-end bench runs the pipeline flat out on the same cores as the subscriber, so its rates move with
the machine by several percent between runs. This one takes the worker and pg_net out and holds the load still:
job rows of one signed-in user are inserted ``--batch`` at a time, then set *processing*, then *completed* (the
worker's three writes, each a transaction), ``--rate`` jobs a second, so the job trigger broadcasts three
messages a job to ``jobs:<user id>``. Each round runs twice, with the live table (``live_table.py``) joined to
the topic and with nobody joined, and prints the CPU each process spent per job either way: the difference is
what delivering the broadcasts costs.

    python bench/bench_broadcast_cost.py [--jobs 6000] [--rate 400] [--batch 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import psutil
import psycopg
from _support import CpuMeter, postmaster, temporary_stack
from live_table import LiveTableProcess

from jobqueue.provision import provision
from jobqueue.settings import Settings, load_settings
from supabase_local.state import STATE_DIR_ENV

PREFIX = "paced-"
PROCESSES = ("services", "PostgreSQL", "subscriber")
INSERT = ("insert into public.job_results (task_name, user_id) select %s || n, %s::uuid "
          "from generate_series(1, %s) n returning id")
PROCESSING = "update public.job_results set status = 'processing', started_at = now() where id = any(%s)"
COMPLETED = ("update public.job_results set status = 'completed', completed_at = now(), result = 'done' "
             "where id = any(%s)")
SETTLE_SECONDS = 1.0


def paced_jobs(db: psycopg.Connection, user_id: str, jobs: int, rate: float, batch: int) -> None:
    """``jobs`` jobs of ``user_id`` through their three writes, ``batch`` a transaction, ``rate`` a second."""
    start = time.perf_counter()
    for done in range(0, jobs, batch):
        time.sleep(max(0.0, start + done / rate - time.perf_counter()))
        ids = [row[0] for row in db.execute(INSERT, (PREFIX, user_id, min(batch, jobs - done))).fetchall()]
        db.execute(PROCESSING, (ids,))
        db.execute(COMPLETED, (ids,))


def one_run(settings: Settings, stack_processes: dict[str, psutil.Process], args: argparse.Namespace,
            watched: bool) -> dict[str, float]:
    """CPU ms per job of each process, with the live table joined to the user's topic or with nobody joined."""
    watcher = LiveTableProcess.start(settings.supabase_url, settings.anon_key, PREFIX, "broadcast")
    processes = stack_processes
    if watched:
        processes = stack_processes | {"subscriber": psutil.Process(watcher.pid)}
    else:  # the user's topic left: the rows are written and broadcast, nobody receives them
        watcher.stop()
        time.sleep(SETTLE_SECONDS)
    meter = CpuMeter(processes, with_children=frozenset({"PostgreSQL"}))
    try:
        with psycopg.connect(settings.db_url, autocommit=True) as db:
            meter.start()
            paced_jobs(db, watcher.user_id, args.jobs, args.rate, args.batch)
            time.sleep(SETTLE_SECONDS)
            spent = meter.stop()
    finally:
        counts = watcher.stop() if watched else None
    if counts is not None and counts["completed_jobs"] != args.jobs:
        raise RuntimeError(f"the live table saw {counts['completed_jobs']} of {args.jobs} jobs complete")
    return {name: spent.get(name, 0.0) * 1000 / args.jobs for name in PROCESSES}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6000, help="jobs per run")
    parser.add_argument("--rate", type=float, default=400.0, help="jobs per second")
    parser.add_argument("--batch", type=int, default=4, help="jobs per transaction (the worker flushes in batches)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the two runs; the median is printed")
    args = parser.parse_args(argv)
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    with temporary_stack() as stack:
        settings = load_settings({STATE_DIR_ENV: stack.root}, root=stack.path)
        provision(settings)
        stack_processes = {"services": psutil.Process(stack.services_pid), "PostgreSQL": postmaster(stack.pgdata)}
        for _ in range(args.rounds):
            for watched in (False, True):
                runs[watched].append(one_run(settings, stack_processes, args, watched))
    median = {watched: {name: sorted(run[name] for run in each)[len(each) // 2] for name in PROCESSES}
              for watched, each in runs.items()}
    print(f"bench_broadcast_cost: {args.jobs} jobs a run at {args.rate:g}/s, {args.batch} a transaction, three "
          f"broadcasts a job; CPU ms per job, median of {args.rounds} rounds")
    print(f"{'':<14}{'nobody joined':>15}{'live table':>12}{'difference':>12}   live table by round")
    figures: dict[str, float] = {}
    for name in PROCESSES:
        quiet, watched = median[False][name], median[True][name]
        rounds = ", ".join(f"{run[name]:.3f}" for run in runs[True])
        print(f"{name:<14}{quiet:>15.3f}{watched:>12.3f}{watched - quiet:>+12.3f}   {rounds}")
        figures[f"{name} ms/job, watched - unwatched"] = watched - quiet
    total = sum(median[True].values()) - sum(median[False].values())
    print(f"{'total':<14}{sum(median[False].values()):>15.3f}{sum(median[True].values()):>12.3f}{total:>+12.3f}")
    return figures


if __name__ == "__main__":
    main()
