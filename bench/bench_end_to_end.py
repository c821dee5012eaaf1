"""End to end: ``submit_job`` → trigger → pg_net → worker → ``mark_job_completed``, with no-op jobs, beside raw
PGMQ and PgQueuer on the same stack and database, in the same run.

Starts its own stack in a temporary directory, provisions it, runs the worker process with
``JOB_MIN_SECONDS=0 JOB_MAX_SECONDS=0`` and prints one table:
  * ours: ``submit_job`` back to back on one connection, jobs per second from the first job's ``created_at`` to
    the last ``completed_at``;
  * raw PGMQ: one message at a time through ``send``, ``read`` and ``archive`` on one connection, each its own
    transaction (what a job costs the queue alone);
  * PgQueuer: one ``enqueue`` per transaction back to back, a no-op entrypoint, its consumer running in its own
    process; jobs per second from the first enqueue to the last ``successful`` log row;
and, for each, the CPU milliseconds per job of every process taking part (psutil, before and after), then the
webhook latency: one job at a time on an otherwise idle system, from the ``submit_job`` commit returning to the
worker receiving the signed POST, and to the job being completed.

    python bench/bench_end_to_end.py [--jobs 2000] [--pgqueuer-jobs 2000] [--rounds 3] [--latency-jobs 100]

PgQueuer comes with the ``bench`` extra (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import bench_pgmq
import psutil
import psycopg
from _support import CpuMeter, percentile, postmaster, profiled, temporary_stack
from job_events import pending_event_latencies
from job_watch import SET_CLAIMS, claims_of, key_for
from live_table import LiveTableProcess
from pgqueuer import PsycopgDriver, Queries
from pgqueuer_consumer import ENTRYPOINT
from supabase import create_client

from jobqueue.provision import provision
from jobqueue.settings import Settings, load_settings
from jobqueue.worker_process import WorkerProcess, runs, start_worker, stop_worker, worker_env
from supabase_local.state import STATE_DIR_ENV, StackState, free_port

HERE = Path(__file__).resolve().parent
DEADLINE_SECONDS = 300.0
POLL_SECONDS = 0.05  # seldom enough that the bench's own polling costs PostgreSQL little CPU per job
EVENTS_SETTLE_SECONDS = 0.5  # the last completions' events are on their way when the database says done
SUBSCRIBER = "live table subscriber (client)"


@dataclasses.dataclass
class Column:
    """One system's figures: jobs per second and CPU seconds by process over the measured jobs."""

    rate: float
    jobs: int
    cpu: dict[str, float]
    events: dict[str, int] | None = None  # what the live table's subscriber received, when one watched
    behind: float | None = None  # seconds from the last submit to the last completion: does the consumer keep pace?

    def per_job_ms(self, name: str) -> float | None:
        return self.cpu[name] * 1000 / self.jobs if name in self.cpu else None


def wait_for(condition: Callable[[], bool], what: str, every: float = 0.002) -> None:
    """Poll ``condition`` until it holds; give up after the deadline."""
    end = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(every)


def completed(db: psycopg.Connection, job_ids: list[str]) -> int:
    """How many of ``job_ids`` are completed."""
    return db.execute("select count(*) from public.job_results where job_id = any(%s::uuid[]) "
                      "and status = 'completed'", (job_ids,)).fetchone()[0]


def submit(db: psycopg.Connection, name: str) -> str:
    """One job through ``submit_job``, committed on return."""
    return str(db.execute("select job_id from public.submit_job(%s)", (name,)).fetchone()[0])


def ours(db: psycopg.Connection, meter: CpuMeter, jobs: int, prefix: str = "throughput-") -> Column:
    """No-op jobs per second from the first submit's commit to the last completion (database clock)."""
    submitter = CpuMeter({"submitter": psutil.Process()})
    meter.start()
    submitter.start()
    job_ids = [submit(db, f"{prefix}{n}") for n in range(jobs)]
    spent = submitter.stop()
    wait_for(lambda: completed(db, job_ids) == jobs, f"{jobs} completions", every=POLL_SECONDS)
    cpu = meter.stop() | spent
    first, last, last_submit = db.execute("select min(created_at), max(completed_at), max(created_at) "
                                          "from public.job_results where job_id = any(%s::uuid[])",
                                          (job_ids,)).fetchone()
    return Column(jobs / (last - first).total_seconds(), jobs, cpu, behind=(last - last_submit).total_seconds())


WATCHED = {"changes": "ours+changes", "broadcast": "ours+broadcast"}
USERS_JOBS = "ours, a user's"
# Each watched run beside the unwatched run of the same jobs: the operator's jobs (no user) for postgres_changes, a
# signed-in user's (their rate limit counted, their changes broadcast to their topic) for the private topic.
BASELINE = {"ours+changes": "ours", "ours+broadcast": USERS_JOBS}


def ours_as_a_user(db: psycopg.Connection, settings: Settings, meter: CpuMeter, jobs: int) -> Column:
    """``ours`` with the jobs submitted as a new anonymous user, whose topic nobody has joined: what every job of
    the app costs unwatched (``submit_job`` refuses the bare anon key)."""
    user = create_client(settings.supabase_url, settings.anon_key).auth.sign_in_anonymously().user
    with submitting_as(db, user.id):
        return ours(db, meter, jobs, "users-")


def ours_watched(db: psycopg.Connection, settings: Settings, meter: CpuMeter, jobs: int, mode: str,
                 services_pid: int, profile: Path | None) -> Column:
    """``ours`` while the notebook's live table (``live_table.py``, its own process) receives every change of the
    jobs: by ``postgres_changes`` as the operator (``changes``), or on a user's private topic (``broadcast``), the
    jobs then submitted as that user. Its CPU is shown as the subscriber's and left out of the total, as a
    browser's would be. With ``profile``, the services and the subscriber are profiled as ``<name>-<mode>``."""
    prefix = f"watched-{mode}-"
    watcher = LiveTableProcess.start(settings.supabase_url, key_for(settings, mode), prefix, mode)
    try:
        client = CpuMeter({SUBSCRIBER: psutil.Process(watcher.pid)})
        client.start()
        with (submitting_as(db, watcher.user_id),
              profiled({f"services-{mode}": services_pid, f"subscriber-{mode}": watcher.pid}, profile)):
            column = ours(db, meter, jobs, prefix)
        time.sleep(EVENTS_SETTLE_SECONDS)
        column.cpu |= client.stop()
    finally:
        events = watcher.stop()
    column.events = events
    return column


@contextlib.contextmanager
def submitting_as(db: psycopg.Connection, user_id: str | None) -> Iterator[None]:
    """``submit_job`` on ``db`` stamps ``user_id`` on the jobs (the JWT claims the gateway would set), put back
    afterwards. Nothing changes for None."""
    if user_id is None:
        yield
        return
    db.execute(SET_CLAIMS, (claims_of(user_id),))
    try:
        yield
    finally:
        db.execute(SET_CLAIMS, ("",))


@contextlib.contextmanager
def submit_limit_lifted(db: psycopg.Connection) -> Iterator[None]:
    """The per-user submit rate limit out of the way while one user submits the bench's thousands of jobs, put
    back afterwards (jobs without a user, the operator's, have none)."""
    setting = "select value from jobqueue_private.settings where key = 'max_submits_per_client_per_minute'"
    limit = db.execute(setting).fetchone()[0]
    update = "update jobqueue_private.settings set value = %s where key = 'max_submits_per_client_per_minute'"
    db.execute(update, ("100000000",))
    try:
        yield
    finally:
        db.execute(update, (limit,))


def raw_pgmq(db_url: str, pg: psutil.Process, messages: int) -> Column:
    """One message at a time: send, read, archive (three transactions), on one connection."""
    meter = CpuMeter({"PostgreSQL": pg, "submitter": psutil.Process()}, with_children=frozenset({"PostgreSQL"}))
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("select pgmq.create(%s)", (bench_pgmq.QUEUE,))
        try:
            meter.start()
            began = time.perf_counter()
            for _ in range(messages):
                bench_pgmq.send_one(conn)
                bench_pgmq.read_archive_one(conn)
            elapsed = time.perf_counter() - began
            cpu = meter.stop()
        finally:
            conn.execute("select pgmq.drop_queue(%s)", (bench_pgmq.QUEUE,))
    return Column(messages / elapsed, messages, cpu)


async def enqueue_pgqueuer(db_url: str, jobs: int) -> None:
    """``jobs`` PgQueuer enqueues, each its own transaction (autocommit), back to back."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        queries = Queries(PsycopgDriver(conn))
        for _ in range(jobs):
            await queries.enqueue(ENTRYPOINT, None)


def install_pgqueuer(db_url: str) -> None:
    """PgQueuer's tables, types and triggers in the bench database (once)."""
    async def install() -> None:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            queries = Queries(PsycopgDriver(conn))
            if not await queries.schema_is_installed():
                await queries.install()
    asyncio.run(install())


def pgqueuer(db: psycopg.Connection, db_url: str, pg: psutil.Process, jobs: int, log_path: Path,
             profile: Path | None) -> Column:
    """PgQueuer jobs per second with its consumer in its own process, and the CPU each process spent."""
    with log_path.open("ab") as log:
        consumer = subprocess.Popen([sys.executable, str(HERE / "pgqueuer_consumer.py"), db_url],
                                    stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)  # the consumer connects and starts listening before the first enqueue
        if consumer.poll() is not None:
            raise RuntimeError(f"the PgQueuer consumer exited; see {log_path}")
        meter = CpuMeter({"consumer": psutil.Process(consumer.pid), "PostgreSQL": pg},
                         with_children=frozenset({"PostgreSQL"}))
        submitter = CpuMeter({"submitter": psutil.Process()})
        done = "select count(*) from pgqueuer_log where status = 'successful'"
        with profiled({"pgqueuer_consumer": consumer.pid}, profile):
            meter.start()
            submitter.start()
            began = time.time()
            asyncio.run(enqueue_pgqueuer(db_url, jobs))
            enqueued = time.time()
            spent = submitter.stop()
            wait_for(lambda: db.execute(done).fetchone()[0] >= jobs, f"{jobs} PgQueuer jobs", every=POLL_SECONDS)
            cpu = meter.stop() | spent
        last = db.execute("select max(created) from pgqueuer_log where status = 'successful'").fetchone()[0]
    finally:
        consumer.send_signal(signal.SIGTERM)
        try:
            consumer.wait(timeout=15)
        except subprocess.TimeoutExpired:
            consumer.kill()
            consumer.wait()
    return Column(jobs / (last.timestamp() - began), jobs, cpu, behind=last.timestamp() - enqueued)


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


def _cell(value: float | None, decimals: int) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def print_table(columns: dict[str, Column], processes: list[str]) -> None:
    """The one table: rate, then CPU ms per job by process and in total, one column per system."""
    width, cell = 48, 16
    print(f"{'no-op jobs, same stack and database':<{width}}" + "".join(f"{name:>{cell}}" for name in columns))
    print(f"{'jobs/s':<{width}}" + "".join(f"{_cell(col.rate, 0):>{cell}}" for col in columns.values()))
    print(f"{'last done after the last submit, ms':<{width}}"
          + "".join(f"{_cell(None if col.behind is None else col.behind * 1000, 0):>{cell}}"
                    for col in columns.values()))
    for name in processes:
        print(f"{'CPU ms/job, ' + name:<{width}}"
              + "".join(f"{_cell(col.per_job_ms(name), 2):>{cell}}" for col in columns.values()))
    print(f"{'CPU ms/job, total (without the client)':<{width}}"
          + "".join(f"{_total_ms(col):>{cell},.2f}" for col in columns.values()))
    print(f"{'Realtime events / job, final state seen':<{width}}" + "".join(
        f"{_events(col):>{cell}}" for col in columns.values()))


def _total_ms(column: Column) -> float:
    return sum(spent for name, spent in column.cpu.items() if name != SUBSCRIBER) * 1000 / column.jobs


def _events(column: Column) -> str:
    if column.events is None:
        return "-"
    return f"{column.events['events'] / column.jobs:.1f}, {column.events['completed_jobs'] / column.jobs:.0%}"


def median_round(columns: list[Column]) -> Column:
    """The round with the median rate (its CPU figures belong to that rate)."""
    return sorted(columns, key=lambda column: column.rate)[len(columns) // 2]


def one_round(settings: Settings, stack: StackState, pg: psutil.Process, args: argparse.Namespace,
              profile: Path | None, last: bool) -> tuple[dict[str, Column], dict[str, list[float]]]:
    """Ours, raw PGMQ and PgQueuer once each, in turn, on the same stack; in the last round also the latencies."""
    env = worker_env(settings) | {"JOB_MIN_SECONDS": "0", "JOB_MAX_SECONDS": "0",
                                  "WORKER_PULL_IDLE_SECONDS": "0", "LOG_LEVEL": "WARNING"}
    port = urlparse(settings.worker_url).port
    worker = start_worker(env, port=port, state_dir=stack.path, concurrency=args.concurrency)
    meter = CpuMeter({"services (REST, Realtime, pg_net)": psutil.Process(stack.services_pid),
                      "worker": psutil.Process(worker.pid), "PostgreSQL": pg},
                     with_children=frozenset({"worker", "PostgreSQL"}))
    latency: dict[str, list[float]] = {}
    try:
        with psycopg.connect(settings.db_url, autocommit=True) as db:
            for n in range(20):  # warm up connections, caches and the worker's client
                submit(db, f"warm-up-{n}")
            with profiled({"services": stack.services_pid, "worker": worker.pid}, profile):
                columns = {"ours": ours(db, meter, args.jobs)}
            with submit_limit_lifted(db):
                columns[WATCHED["changes"]] = ours_watched(db, settings, meter, args.jobs, "changes",
                                                             stack.services_pid, profile)
                columns[USERS_JOBS] = ours_as_a_user(db, settings, meter, args.jobs)
                columns[WATCHED["broadcast"]] = ours_watched(db, settings, meter, args.jobs,
                                                               "broadcast", stack.services_pid, profile)
                if last:
                    latency["worker"], latency["done"] = latencies(db, worker, args.latency_jobs)
                    for mode in WATCHED:
                        latency[f"events, {mode}"] = asyncio.run(pending_event_latencies(
                            settings, args.event_jobs, args.event_rate, mode))
    finally:
        stop_worker(worker)
    columns["raw PGMQ"] = raw_pgmq(settings.db_url, pg, args.pgmq_messages)
    with psycopg.connect(settings.db_url, autocommit=True) as db:
        columns["PgQueuer 1.x"] = pgqueuer(db, settings.db_url, pg, args.pgqueuer_jobs,
                                           stack.path / "pgqueuer.log", profile)
    for name in ("raw PGMQ", "PgQueuer 1.x"):
        column = columns[name]
        column.cpu = {("worker" if key == "consumer" else key): spent for key, spent in column.cpu.items()}
    return columns, latency


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Measure on a throwaway stack and worker; print the table and the latencies and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs submitted back to back for throughput "
                        "(as many as PgQueuer gets)")
    parser.add_argument("--pgmq-messages", type=int, default=2000, help="messages through raw PGMQ")
    parser.add_argument("--pgqueuer-jobs", type=int, default=2000, help="jobs enqueued to PgQueuer")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three systems in turn; the table "
                        "shows each system's median round")
    parser.add_argument("--latency-jobs", type=int, default=100, help="jobs sent one at a time for latency")
    parser.add_argument("--event-jobs", type=int, default=250, help="jobs submitted at --event-rate for the "
                        "commit → Realtime callback latency")
    parser.add_argument("--event-rate", type=float, default=50.0, help="jobs per second for the Realtime latency")
    parser.add_argument("--concurrency", type=int, default=20, help="the worker's concurrency")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of each process in the first round's "
                        "throughput runs here (py-spy costs CPU too: take figures from a run without it)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    rounds: list[dict[str, Column]] = []
    with temporary_stack() as stack:
        settings = dataclasses.replace(load_settings({STATE_DIR_ENV: stack.root}, root=stack.path),
                                       worker_url=f"http://127.0.0.1:{free_port()}/hooks/work-queue")
        provision(settings)
        install_pgqueuer(settings.db_url)
        pg = postmaster(stack.pgdata)
        for index in range(args.rounds):
            columns, latency = one_round(settings, stack, pg, args, args.profile if index == 0 else None,
                                         last=index == args.rounds - 1)
            rounds.append(columns)
    names = list(rounds[0])
    columns = {name: median_round([each[name] for each in rounds]) for name in names}
    ratio = sorted(each["ours"].rate / each["PgQueuer 1.x"].rate for each in rounds)[len(rounds) // 2]
    watched = {name: sorted(each[name].rate / each[base].rate for each in rounds)[len(rounds) // 2]
               for name, base in BASELINE.items()}
    print(f"bench_end_to_end: no-op jobs, worker concurrency {args.concurrency}, {os.cpu_count()} cores "
          f"(load average before: {load:.1f}); each column is the median of {args.rounds} rounds")
    print_table(columns, ["services (REST, Realtime, pg_net)", "worker", "PostgreSQL", "submitter", SUBSCRIBER])
    print(f"{'ours / PgQueuer, median of rounds':<48}{ratio:>16.2f}")
    for name, base in BASELINE.items():
        print(f"{f'{name} / {base}, median of rounds':<48}{watched[name]:>16.2f}")
    for name in names:
        print(f"{'jobs/s by round, ' + name:<48}" + ", ".join(f"{each[name].rate:,.0f}" for each in rounds))
    figures = {
        "ours jobs/s": columns["ours"].rate,
        "ours, watched by postgres_changes jobs/s": columns[WATCHED["changes"]].rate,
        "ours, a user's jobs jobs/s": columns[USERS_JOBS].rate,
        "ours, watched on the private broadcast topic jobs/s": columns[WATCHED["broadcast"]].rate,
        "watched by postgres_changes / unwatched": watched[WATCHED["changes"]],
        "watched on the private topic / a user's unwatched": watched[WATCHED["broadcast"]],
        "raw PGMQ msgs/s": columns["raw PGMQ"].rate,
        "PgQueuer jobs/s": columns["PgQueuer 1.x"].rate, "ours / PgQueuer": ratio,
    }
    latencies_ms = {
        "webhook commit → worker receives, p50 ms": percentile(latency["worker"], 50),
        "webhook commit → worker receives, p99 ms": percentile(latency["worker"], 99),
        "one job alone, commit → completed, p50 ms": percentile(latency["done"], 50),
        "one job alone, commit → completed, p99 ms": percentile(latency["done"], 99),
    }
    for mode, how in (("changes", "postgres_changes"), ("broadcast", "private broadcast")):
        for share in (50, 99):
            latencies_ms[f"commit → {how} callback at {args.event_rate:g} jobs/s, p{share} ms"] = percentile(
                latency[f"events, {mode}"], share)
    for name, value in latencies_ms.items():
        print(f"{name:<56}{value:>8.1f}")
    figures |= latencies_ms
    print("(worker row: our worker, nothing for raw PGMQ, the PgQueuer consumer; submitter: the client enqueuing;"
          " ours+changes: ours while a live table subscribes to every change of job_results by postgres_changes"
          " (the operator's view); ours, a user's: the jobs submitted as one signed-in user, nobody watching;"
          " ours+broadcast: the same while that user's live table listens on the private topic jobs:<user id>,"
          " where the database broadcasts each change of their jobs;"
          " last done after the last submit: near 0 when the consumer keeps pace, so the submitter sets the rate)")
    return figures


if __name__ == "__main__":
    main()
