"""Three drains of no-op work on one stack, in one run, beside raw PGMQ: which drain fits which work.

  * webhook per job (notebook 02's path): ``submit_job`` back to back, a pg_net POST per job, the worker claims
    and completes each; jobs per second from the first job's ``created_at`` to the last ``completed_at``;
  * batch per cron tick (the seed's path): what pg_cron runs, ``jobqueue_private.call_queue_consumer('lab_noop')``,
    a pg_net POST to the worker's consumer endpoint, which reads 100 messages through ``pgmq_public.read`` and
    archives them with one ``acknowledge_messages``; ticks back to back (the next when the last answered), so the
    figure is what a tick can carry, not what a schedule allows (100 per tick every 10 s is 10 msgs/s);
  * continuous batch consumer: ``python -m worker --consume lab_noop --batch N``, long-polling, its own process,
    acknowledging each batch in the call that reads the next, four loops at once (at batch 100 and 1000);
  * raw PGMQ: ``pgmq.read(qty 100)`` + ``pgmq.delete(msg_ids)`` in a loop on one psycopg connection.
The batch drains and raw PGMQ start from the same backlog, sent in one ``send_batch``; each figure is messages
per second from the start to the empty queue, with the CPU milliseconds per message of every process involved.

    python bench/bench_drains.py [--jobs 1000] [--messages 10000] [--batches 100 1000] [--rounds 3] [--profile DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import psutil
import psycopg
from _support import CpuMeter, postmaster, profiled, temporary_stack

from jobqueue.provision import provision
from jobqueue.settings import PROJECT_ROOT, Settings, load_settings
from jobqueue.worker_process import start_worker, stop_worker, worker_env
from supabase_local.state import STATE_DIR_ENV, free_port

QUEUE = "lab_noop"
DEADLINE_SECONDS = 300.0
SERVICES = "services (REST, pg_net)"
# The continuous drain is watched this often, with a query that stops at the first row left: a count(*) every
# millisecond took a good share of the two cores from the drain it measured.
EMPTY = "select not exists (select from pgmq.q_lab_noop)"
EMPTY_POLL_SECONDS = 0.01
ANSWER = "select status_code, content from net._http_response where id = %s"


@dataclasses.dataclass
class Drain:
    """One drain's figures: messages per second and CPU seconds by process over ``count`` messages."""

    rate: float
    count: int
    cpu: dict[str, float]

    def per_message_ms(self) -> float:
        return sum(self.cpu.values()) * 1000 / self.count


def wait_for(condition: Callable[[], bool], what: str, every: float = 0.005) -> None:
    """Poll ``condition`` until it holds; give up after the deadline."""
    end = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(every)


def backlog(db: psycopg.Connection, count: int) -> None:
    """``count`` no-op messages on the lab's queue, sent in one transaction."""
    db.execute("select pgmq.purge_queue(%s)", (QUEUE,))
    db.execute("select pgmq.send_batch(%s, array_fill('{}'::jsonb, array[%s]))", (QUEUE, count))


def timed(meter: CpuMeter, count: int, drain: Callable[[], None]) -> Drain:
    """Run ``drain`` (which returns once the work is done) under the CPU meter."""
    meter.start()
    began = time.perf_counter()
    drain()
    seconds = time.perf_counter() - began
    return Drain(count / seconds, count, meter.stop())


def webhook_per_job(db: psycopg.Connection, meter: CpuMeter, jobs: int) -> Drain:
    """No-op jobs through ``submit_job``: the rate is taken from the database's clock, as bench_end_to_end does."""
    job_ids: list[str] = []

    def run() -> None:
        job_ids.extend(str(db.execute("select job_id from public.submit_job(%s)", (f"drain-{n}",)).fetchone()[0])
                       for n in range(jobs))
        wait_for(lambda: db.execute("select count(*) from public.job_results where job_id = any(%s::uuid[]) "
                                    "and status = 'completed'", (job_ids,)).fetchone()[0] == jobs,
                 f"{jobs} completed jobs", every=0.05)

    drain = timed(meter, jobs, run)
    first, last = db.execute("select min(created_at), max(completed_at) from public.job_results "
                             "where job_id = any(%s::uuid[])", (job_ids,)).fetchone()
    drain.rate = jobs / (last - first).total_seconds()
    return drain


def cron_ticks(db: psycopg.Connection, meter: CpuMeter, messages: int) -> Drain:
    """The cron job's statement, run again as soon as the last call answered, until a call reads nothing."""
    backlog(db, messages)

    def run() -> None:
        while True:
            request_id = db.execute("select jobqueue_private.call_queue_consumer(%s)", (QUEUE,)).fetchone()[0]
            wait_for(lambda rid=request_id: db.execute(ANSWER, (rid,)).fetchone() is not None,
                     "the consumer's answer", every=0.001)
            status, content = db.execute(ANSWER, (request_id,)).fetchone()
            if status != 200:
                raise RuntimeError(f"the consumer answered {status}: {content}")
            if json.loads(content)["read"] == 0:
                return

    return timed(meter, messages, run)


def continuous(db: psycopg.Connection, settings: Settings, meter: CpuMeter, messages: int, batch: int,
               log: Path, profile: Path | None) -> Drain:
    """The long-polling consumer reading ``batch`` at a time, started idle; the backlog arrives in one transaction.
    With ``profile``, the consumer and the services process are sampled by py-spy while they drain."""
    db.execute("select pgmq.purge_queue(%s)", (QUEUE,))
    with log.open("wb") as out:
        consumer = subprocess.Popen([sys.executable, "-m", "worker", "--consume", QUEUE, "--batch", str(batch)],
                                    cwd=PROJECT_ROOT, env={**os.environ, **worker_env(settings)},
                                    stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: consumer.poll() is not None or "consumer.started" in log.read_text(), "the consumer",
                 every=0.05)
        if consumer.poll() is not None:
            raise RuntimeError(f"the consumer exited: {log.read_text()}")
        meter.processes["consumer"] = psutil.Process(consumer.pid)

        ids: list[int] = []
        started: list[datetime] = []

        def run() -> None:
            ids.extend(row[0] for row in db.execute("select * from pgmq.send_batch(%s, array_fill('{}'::jsonb, "
                                                    "array[%s]))", (QUEUE, messages)))
            started.append(db.execute("select clock_timestamp()").fetchone()[0])
            wait_for(lambda: db.execute(EMPTY).fetchone()[0], "the empty queue", every=EMPTY_POLL_SECONDS)

        services = meter.processes[SERVICES].pid
        with profiled({f"consumer-{batch}": consumer.pid, f"services-{batch}": services}, profile):
            drain = timed(meter, messages, run)
        # The rate from the database's clock: the poll's own interval is not counted.
        finished = db.execute("select max(archived_at) from pgmq.a_lab_noop where msg_id between %s and %s",
                              (min(ids), max(ids))).fetchone()[0]
        drain.rate = messages / (finished - started[0]).total_seconds()
        return drain
    finally:
        meter.processes.pop("consumer", None)
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(timeout=30)


def raw_pgmq(db: psycopg.Connection, meter: CpuMeter, messages: int) -> Drain:
    """``pgmq.read`` 100 and ``pgmq.delete`` their ids, one connection, until the queue is empty."""
    backlog(db, messages)

    def run() -> None:
        while ids := [row[0] for row in db.execute("select msg_id from pgmq.read(%s, 30, 100)", (QUEUE,))]:
            db.execute("select pgmq.delete(%s, %s::bigint[])", (QUEUE, ids))

    return timed(meter, messages, run)


def one_round(settings: Settings, stack_path: Path, services_pid: int, pg: psutil.Process,
              args: argparse.Namespace, profile: Path | None) -> dict[str, Drain]:
    env = worker_env(settings) | {"JOB_MIN_SECONDS": "0", "JOB_MAX_SECONDS": "0", "WORKER_PULL_IDLE_SECONDS": "0",
                                  "LOG_LEVEL": "WARNING"}
    worker = start_worker(env, port=urlparse(settings.worker_url).port, state_dir=stack_path, concurrency=20)
    bench = psutil.Process()
    meter = CpuMeter({SERVICES: psutil.Process(services_pid), "worker": psutil.Process(worker.pid),
                      "PostgreSQL": pg, "bench": bench}, with_children=frozenset({"PostgreSQL"}))
    try:
        with psycopg.connect(settings.db_url, autocommit=True) as db:
            for n in range(20):  # warm up the worker's client and the gateway's plans
                db.execute("select public.submit_job(%s)", (f"warm-up-{n}",))
            drains = {"webhook per job": webhook_per_job(db, meter, args.jobs),
                      "batch per cron tick": cron_ticks(db, meter, args.messages)}
            del meter.processes["worker"]
            for batch in args.batches:
                drains[f"continuous consumer, batch {batch}"] = continuous(
                    db, settings, meter, args.messages, batch, stack_path / "consumer.log", profile)
            meter.processes.pop(SERVICES)
            drains["raw PGMQ read 100 + delete"] = raw_pgmq(db, meter, args.messages)
    finally:
        stop_worker(worker)
    return drains


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Measure on a throwaway stack; print the table and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="no-op jobs through the webhook path")
    parser.add_argument("--messages", type=int, default=10000, help="no-op messages for each batch drain")
    parser.add_argument("--batches", type=int, nargs="+", default=[100, 1000],
                        help="batch sizes of the continuous consumer (the cron tick reads 100)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the table shows each drain's median round")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write py-spy profiles of the continuous consumer and the services process during the "
                             "first round's continuous drains here (py-spy costs CPU too: take figures without it)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    rounds: list[dict[str, Drain]] = []
    with temporary_stack() as stack:
        settings = dataclasses.replace(load_settings({STATE_DIR_ENV: stack.root}, root=stack.path),
                                       worker_url=f"http://127.0.0.1:{free_port()}/hooks/work-queue")
        provision(settings)
        with psycopg.connect(settings.db_url, autocommit=True) as db:
            db.execute("update jobqueue_private.queue_consumers set schedule = null")
            db.execute("select jobqueue_private.schedule_queue_consumers()")
        pg = postmaster(stack.pgdata)
        rounds = [one_round(settings, stack.path, stack.services_pid, pg, args, args.profile if n == 0 else None)
                  for n in range(args.rounds)]
    names = list(rounds[0])
    median = {name: sorted((each[name] for each in rounds), key=lambda d: d.rate)[len(rounds) // 2] for name in names}
    print(f"bench_drains: no-op work, {os.cpu_count()} cores (load average before: {load:.1f}); "
          f"median of {args.rounds} rounds")
    print(f"{'drain':<36}{'msgs/s':>10}{'CPU ms/msg':>12}   msgs/s by round")
    for name, drain in median.items():
        print(f"{name:<36}{drain.rate:>10,.0f}{drain.per_message_ms():>12.3f}   "
              + ", ".join(f"{each[name].rate:,.0f}" for each in rounds))
    processes = list(dict.fromkeys(process for drain in median.values() for process in drain.cpu))
    print(f"\n{'CPU ms/msg by process':<36}" + "".join(f"{process[:12]:>14}" for process in processes))
    for name, drain in median.items():
        print(f"{name:<36}" + "".join(f"{drain.cpu[p] * 1000 / drain.count:>14.4f}" if p in drain.cpu else f"{'-':>14}"
                                      for p in processes))
    print()
    figures = {f"{name} msgs/s": drain.rate for name, drain in median.items()}
    # The machine is shared: each ratio is taken within a round (same load on the machine), then the median.
    for name in [name for name in names if name.startswith(("batch", "continuous"))]:
        for base, label in (("webhook per job", "webhook per job"), ("raw PGMQ read 100 + delete", "raw PGMQ")):
            ratios = sorted(each[name].rate / each[base].rate for each in rounds)
            figures[f"{name} / {label}"] = ratios[len(ratios) // 2]
        print(f"{name:<36} {figures[f'{name} / webhook per job']:.1f} x webhook per job, "
              f"{figures[f'{name} / raw PGMQ']:.2f} x raw PGMQ (median of the rounds' ratios)")
    return figures


if __name__ == "__main__":
    main()
