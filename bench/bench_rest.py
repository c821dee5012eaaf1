"""REST round trips per second through supabase-py next to raw psycopg doing the same work.

Starts its own stack in a temporary directory and stops it afterwards:
``python bench/bench_rest.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

import psycopg
from supabase import create_client

from supabase_local.state import StackState, load_state, state_dir

SETUP_SQL = """
drop table if exists bench_rest;
create table bench_rest (id bigint generated always as identity primary key, name text not null, n int);
insert into bench_rest (name, n) select 'row' || i, i from generate_series(1, 1000) i;
"""


def rate(label: str, requests: int, call: Callable[[int], object]) -> float:
    """Calls per second of ``call`` over ``requests`` sequential calls (after a short warm-up)."""
    for i in range(20):
        call(i)
    started = time.perf_counter()
    for i in range(requests):
        call(i)
    per_second = requests / (time.perf_counter() - started)
    print(f"  measured {label}: {per_second:,.0f}/s", file=sys.stderr)
    return per_second


def run(state: StackState, requests: int) -> list[tuple[str, float, float]]:
    """(operation, REST rate, psycopg rate) for a one-row select and a one-row insert."""
    client = create_client(state.supabase_url, state.service_role_key)
    table = client.table("bench_rest")
    run_id = uuid.uuid4().hex[:8]
    with psycopg.connect(state.db_url, autocommit=True) as conn:
        conn.execute(SETUP_SQL)
        rows = [
            ("select one row",
             rate("rest select", requests, lambda i: table.select("*").eq("id", i % 1000 + 1).execute()),
             rate("psycopg select", requests,
                  lambda i: conn.execute("select * from bench_rest where id = %s", [i % 1000 + 1]).fetchall())),
            ("insert one row",
             rate("rest insert", requests,
                  lambda i: table.insert({"name": f"{run_id}-rest-{i}", "n": i}).execute()),
             rate("psycopg insert", requests,
                  lambda i: conn.execute("insert into bench_rest (name, n) values (%s, %s) returning *",
                                         [f"{run_id}-pg-{i}", i]).fetchall())),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    """Start a stack, measure, print the table, stop the stack."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="calls per measurement")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as directory:
        cli = [sys.executable, "-m", "supabase_local", "--dir", directory]
        subprocess.run([*cli, "start"], check=True, capture_output=True, text=True)
        try:
            state = load_state(state_dir(directory))
            if state is None:
                raise SystemExit("the stack did not record its state")
            results = run(state, args.requests)
        finally:
            subprocess.run([*cli, "stop"], check=False, capture_output=True, text=True)
    print(f"{'operation':<16} {'supabase-py REST':>18} {'raw psycopg':>13} {'ratio':>7}")
    for operation, rest_rate, pg_rate in results:
        print(f"{operation:<16} {rest_rate:>16,.0f}/s {pg_rate:>11,.0f}/s {pg_rate / rest_rate:>6.1f}x")
    print(f"({args.requests} sequential round trips each, one client, loopback)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
