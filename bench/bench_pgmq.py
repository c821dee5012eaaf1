"""Raw PGMQ speed on the embedded stack: ``send`` and ``read`` + ``archive`` messages per second with 1 and 4
client threads, each on its own connection, one message per transaction. Every later number (webhooks,
jobs) is compared to this baseline.

    python bench/bench_pgmq.py [--seconds 3] [--threads 1 4]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable

import psycopg
from _support import print_figures, temporary_stack
from psycopg.types.json import Jsonb

QUEUE = "bench_pgmq"
MESSAGE = Jsonb({"job_id": "00000000-0000-0000-0000-000000000000", "task_name": "bench"})
Step = Callable[[psycopg.Connection], int]


def send_one(conn: psycopg.Connection) -> int:
    """One ``pgmq.send``: one message."""
    conn.execute("select pgmq.send(%s, %s)", (QUEUE, MESSAGE))
    return 1


def read_archive_one(conn: psycopg.Connection) -> int:
    """``pgmq.read`` one message with a visibility timeout, then ``pgmq.archive`` it, as a consumer does."""
    row = conn.execute("select msg_id from pgmq.read(%s, 30, 1)", (QUEUE,)).fetchone()
    if row is None:
        return 0
    conn.execute("select pgmq.archive(%s, %s::bigint)", (QUEUE, row[0]))
    return 1


def run_threads(db_url: str, step: Step, threads: int, seconds: float) -> float:
    """Messages per second of ``step`` repeated by ``threads`` threads for ``seconds``."""
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def worker(index: int) -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            start.wait()
            while not stop.is_set():
                counts[index] += step(conn)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.perf_counter()
    stop.wait(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


def measure(db_url: str, seconds: float = 3.0, thread_counts: tuple[int, ...] = (1, 4)) -> dict[str, float]:
    """Messages per second for send, then read+archive of that backlog, at each thread count, on any database
    with PGMQ (a scratch queue is created and dropped)."""
    results: dict[str, float] = {}
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute("select pgmq.create(%s)", (QUEUE,))
        try:
            for threads in thread_counts:
                results[f"send msgs/s, {threads} thread(s)"] = run_threads(db_url, send_one, threads, seconds)
            for threads in thread_counts:
                rate = run_threads(db_url, read_archive_one, threads, seconds)
                results[f"read+archive msgs/s, {threads} thread(s)"] = rate
        finally:
            admin.execute("select pgmq.drop_queue(%s)", (QUEUE,))
    return results


def baseline(db_url: str, seconds: float = 1.0) -> dict[str, str]:
    """The raw PGMQ figures, formatted, for other benchmarks to print beside their own."""
    return {name: f"{value:,.0f}" for name, value in measure(db_url, seconds).items()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark on a throwaway stack, print one line per figure and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args(argv)
    with temporary_stack() as stack:
        results = measure(stack.db_url, args.seconds, tuple(args.threads))
    return print_figures(f"bench_pgmq: one message per transaction, {args.seconds:g} s per figure", results)


if __name__ == "__main__":
    main()
