"""REST round trips per second through supabase-py next to raw psycopg doing the same work, and, when
Debian's ``wrk`` is installed, the gateway's one-row select under 8 keep-alive connections with the CPU per
request of the gateway, PostgreSQL and wrk itself (so a busy load generator shows).

Starts its own stack in a temporary directory and stops it afterwards:
``python bench/bench_rest.py [--requests N] [--seconds S] [--connections C] [--role service_role|anon]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

import psutil
import psycopg
from _support import cpu_seconds, postmaster
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


def wrk_select(state: StackState, seconds: float, connections: int, role: str = "service_role") -> dict[str, float]:
    """wrk's requests per second for ``select=*&id=eq.N`` with the key of ``role`` (service_role or anon) and
    the CPU milliseconds per request of each process."""
    url = f"{state.supabase_url}/rest/v1/bench_rest?select=*&id=eq.5"
    key = state.anon_key if role == "anon" else state.service_role_key
    gateway, database = psutil.Process(state.services_pid), postmaster(state.pgdata)
    before = cpu_seconds(gateway), cpu_seconds(database, children=True)
    command = ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds:g}s", url,
               "-H", f"apikey: {key}", "-H", f"Authorization: Bearer {key}"]
    generator = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    load = psutil.Process(generator.pid)
    generator_cpu = 0.0
    while generator.poll() is None:
        try:
            generator_cpu = cpu_seconds(load)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    report = generator.communicate()[0]
    after = cpu_seconds(gateway), cpu_seconds(database, children=True)
    requests = int(re.search(r"(\d+) requests in", report).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    return {
        "requests/s": float(re.search(r"Requests/sec:\s+([0-9.]+)", report).group(1)),
        "gateway CPU ms/request": (after[0] - before[0]) * 1000 / requests,
        "PostgreSQL CPU ms/request": (after[1] - before[1]) * 1000 / requests,
        "wrk CPU ms/request": generator_cpu * 1000 / requests,
        "non-2xx responses": float(failed.group(1)) if failed else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    """Start a stack, measure, print the table, stop the stack."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="calls per measurement")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the wrk run")
    parser.add_argument("--connections", type=int, default=8, help="wrk's keep-alive connections")
    parser.add_argument("--role", choices=("service_role", "anon"), default="service_role",
                        help="whose key wrk sends")
    args = parser.parse_args(argv)
    loaded: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as directory:
        cli = [sys.executable, "-m", "supabase_local", "--dir", directory]
        subprocess.run([*cli, "start"], check=True, capture_output=True, text=True)
        try:
            state = load_state(state_dir(directory))
            if state is None:
                raise SystemExit("the stack did not record its state")
            results = run(state, args.requests)
            if shutil.which("wrk"):
                loaded = wrk_select(state, args.seconds, args.connections, args.role)
        finally:
            subprocess.run([*cli, "stop"], check=False, capture_output=True, text=True)
    print(f"{'operation':<16} {'supabase-py REST':>18} {'raw psycopg':>13} {'ratio':>7}")
    for operation, rest_rate, pg_rate in results:
        print(f"{operation:<16} {rest_rate:>16,.0f}/s {pg_rate:>11,.0f}/s {pg_rate / rest_rate:>6.1f}x")
    print(f"({args.requests} sequential round trips each, one client, loopback)")
    if not loaded:
        print("(install wrk for the gateway under 8 keep-alive connections: apt-get install -y wrk)")
        return 0
    print(f"wrk, one-row select, {args.role} key, {args.connections} keep-alive connections, {args.seconds:g} s")
    for name, value in loaded.items():
        print(f"  {name:<28} {value:>10,.3f}" if "CPU" in name else f"  {name:<28} {value:>10,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
