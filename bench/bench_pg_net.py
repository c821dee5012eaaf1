"""The pg_net-compatible dispatcher: commit-to-arrival latency of ``net.http_post`` (one request at a time,
p50/p99) and requests per second when a burst is queued at once.

    python bench/bench_pg_net.py [--latency-requests 200] [--burst 2000]
"""

from __future__ import annotations

import argparse
import time

import psycopg
from _support import Arrivals, counting_server, percentile, print_figures, temporary_stack

BODY = '{"msg_id": 1, "job_id": "00000000-0000-0000-0000-000000000000", "task_name": "bench"}'


def latency(conn: psycopg.Connection, url: str, arrivals: Arrivals, count: int) -> list[float]:
    """Milliseconds from each commit returning to the request arriving, one request in flight at a time."""
    samples = []
    for i in range(count):
        key = f"lat-{i}"
        with conn.transaction():
            conn.execute("select net.http_post(%s, %s::jsonb, jsonb_build_object('i', %s::text))",
                         (url, BODY, key))
        committed = time.time()
        arrivals.wait_for(i + 1)
        samples.append((arrivals.at[key] - committed) * 1000)
    return samples


def burst(conn: psycopg.Connection, url: str, arrivals: Arrivals, count: int) -> tuple[float, float]:
    """Requests per second for ``count`` requests queued in one transaction; and seconds until all responses
    were recorded."""
    before = len(arrivals.at)
    with conn.transaction():
        conn.execute("select net.http_post(%s, %s::jsonb, jsonb_build_object('i', 'burst-' || n), "
                     "timeout_milliseconds => 30000) from generate_series(1, %s) n", (url, BODY, count))
    committed = time.time()
    arrivals.wait_for(before + count)
    last = max(arrivals.at.values())
    deadline = time.monotonic() + 60
    while conn.execute("select count(*) from net._http_response where status_code = 200").fetchone()[0] \
            < before + count and time.monotonic() < deadline:
        time.sleep(0.01)
    recorded = time.time()
    return count / (last - committed), recorded - committed


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark on a throwaway stack, print one line per figure and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-requests", type=int, default=200)
    parser.add_argument("--burst", type=int, default=2000)
    args = parser.parse_args(argv)
    with temporary_stack() as stack, counting_server() as (url, arrivals), \
            psycopg.connect(stack.db_url, autocommit=True) as conn:
        samples = latency(conn, url, arrivals, args.latency_requests)
        rate, all_recorded = burst(conn, url, arrivals, args.burst)
    results = {"commit-to-arrival p50 ms": percentile(samples, 50),
               "commit-to-arrival p99 ms": percentile(samples, 99),
               f"burst of {args.burst}: requests/s": rate,
               f"burst of {args.burst}: s until all responses recorded": all_recorded}
    title = f"bench_pg_net: {args.latency_requests} sequential requests, then a burst of {args.burst}"
    return print_figures(title, results, decimals=2)


if __name__ == "__main__":
    main()
