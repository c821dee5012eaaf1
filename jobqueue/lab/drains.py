"""Step 4: three drains of the same no-op load, measured the same way.

  * **webhook per job** (notebook 02's path): ``submit_job`` per unit; pg_net POSTs each to the worker, which
    claims and completes it: latency is ``created_at`` → ``completed_at``;
  * **batch per cron tick** (the seed's path): ``lab_noop``'s cron job every second calls the consumer endpoint,
    which reads up to 100 and archives them in one call: latency is ``enqueued_at`` → ``archived_at``;
  * **continuous consumer**: ``python -m worker --consume lab_noop``, long-polling, same handler and archive.

Throughput is units over first send → last done; CPU per unit sums the CPU of the processes taking part (the
embedded stack's services and PostgreSQL, the worker or the consumer), read with psutil: known only locally.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from jobqueue.lab import queries
from jobqueue.lab.db import set_consumer
from jobqueue.settings import PROJECT_ROOT, Settings
from jobqueue.stack import platform_processes
from jobqueue.worker_process import worker_env

DEADLINE_SECONDS = 120.0
TICK = "1 seconds"


@dataclass(frozen=True)
class DrainResult:
    """One drain's figures for ``units`` units of no-op work."""

    drain: str
    units: int
    per_second: float
    p50_ms: float
    p95_ms: float
    cpu_ms_per_unit: float | None

    def row(self) -> dict[str, str]:
        """The figures as a table row."""
        cpu = "n/a (hosted)" if self.cpu_ms_per_unit is None else f"{self.cpu_ms_per_unit:.2f}"
        return {"drain": self.drain, "units": str(self.units), "units/s": f"{self.per_second:,.0f}",
                "p50 ms": f"{self.p50_ms:,.0f}", "p95 ms": f"{self.p95_ms:,.0f}", "CPU ms/unit": cpu}


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with_children = [process, *process.children(recursive=True)]
        for each in with_children:
            try:
                times = each.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


def _wait(condition: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _result(drain: str, latencies: list[float], seconds: float, cpu: float | None) -> DrainResult:
    units = len(latencies)
    pct = statistics.quantiles(latencies, n=100, method="inclusive") if units > 1 else latencies * 99
    return DrainResult(drain, units, units / seconds, pct[49] * 1000, pct[94] * 1000,
                       None if cpu is None else cpu * 1000 / units)


def _measured(settings: Settings, processes: list[psutil.Process], run: Callable[[psycopg.Connection], tuple[
        list[float], float]], drain: str) -> DrainResult:
    platform = platform_processes(settings)
    watched = [*platform, *processes] if platform else []
    before = _cpu_seconds(watched)
    with psycopg.connect(settings.db_url, autocommit=True) as db:
        latencies, seconds = run(db)
    cpu = _cpu_seconds(watched) - before if watched else None
    return _result(drain, latencies, seconds, cpu)


def webhook_per_job(settings: Settings, worker_pid: int, units: int) -> DrainResult:
    """``units`` no-op jobs through ``submit_job``, the webhook and the worker."""
    prefix = f"drain-{uuid.uuid4().hex[:8]}-"

    def run(db: psycopg.Connection) -> tuple[list[float], float]:
        for n in range(units):
            db.execute(queries.SUBMIT_NOOP, {"name": f"{prefix}{n}"})
        _wait(lambda: db.execute(queries.JOBS_DONE, {"prefix": prefix + "%"}).fetchone()[0] == units,
              f"{units} jobs completed")
        first, last = db.execute("select min(created_at), max(completed_at) from public.job_results "
                                 "where task_name like %(prefix)s", {"prefix": prefix + "%"}).fetchone()
        latencies = [row[0] for row in db.execute(queries.JOB_LATENCIES, {"prefix": prefix + "%"})]
        return [float(x) for x in latencies], (last - first).total_seconds()

    return _measured(settings, [psutil.Process(worker_pid)], run, "webhook per job")


def _batch_run(units: int) -> Callable[[psycopg.Connection], tuple[list[float], float]]:
    def run(db: psycopg.Connection) -> tuple[list[float], float]:
        db.execute(queries.PURGE, {"queue": "lab_noop"})
        _, sent_at = db.execute(queries.SEND_NOOP, {"count": units}).fetchone()
        _wait(lambda: db.execute(queries.NOOP_LEFT).fetchone()[0] == 0, "the empty queue")
        latencies = [float(row[0]) for row in db.execute(queries.NOOP_LATENCIES, {"since": sent_at})]
        return latencies, max(latencies)

    return run


def cron_ticks(settings: Settings, worker_pid: int, units: int) -> DrainResult:
    """``units`` messages sent at once, drained by the cron job calling the endpoint every second."""
    set_consumer(settings, "lab_noop", TICK)
    try:
        return _measured(settings, [psutil.Process(worker_pid)], _batch_run(units), "batch per cron tick (1 s)")
    finally:
        set_consumer(settings, "lab_noop", None)


def continuous(settings: Settings, units: int, batch: int = 100) -> DrainResult:
    """``units`` messages sent at once, drained by ``python -m worker --consume lab_noop``."""
    with tempfile.NamedTemporaryFile(prefix="lab-consumer-", suffix=".log", delete=False) as out:
        log = Path(out.name)
        consumer = subprocess.Popen([sys.executable, "-m", "worker", "--consume", "lab_noop", "--batch", str(batch)],
                                    cwd=PROJECT_ROOT, env={**os.environ, **worker_env(settings)}, stdout=out,
                                    stderr=subprocess.STDOUT)
    try:
        _wait(lambda: consumer.poll() is not None or "consumer.started" in log.read_text(), "the consumer")
        if consumer.poll() is not None:
            raise RuntimeError(f"the consumer exited: {log.read_text()[-2000:]}")
        return _measured(settings, [psutil.Process(consumer.pid)], _batch_run(units), "continuous consumer")
    finally:
        consumer.terminate()
        consumer.wait(timeout=30)
        log.unlink(missing_ok=True)


def compare(settings: Settings, worker_pid: int, units: int) -> list[DrainResult]:
    """The three drains in turn on the same load."""
    return [webhook_per_job(settings, worker_pid, units), cron_ticks(settings, worker_pid, units),
            continuous(settings, units)]
