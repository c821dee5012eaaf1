"""Realtime postgres_changes speed on the embedded stack: commit → callback latency (p50, p99) and events per
second, for 1 and for 20 subscribers, each an own supabase AsyncClient (own websocket) on the same table.

Latency: one row per transaction, the next only after every subscriber got the previous one; measured from
the return of the committing ``insert`` to the callback. Throughput: a burst of rows committed back to back,
counted until every subscriber has them all.

    python bench/bench_realtime.py [--samples 200] [--burst 2000] [--subscribers 1 20]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import psycopg
from _support import percentile, print_figures, temporary_stack
from psycopg import sql
from supabase import AsyncClient, acreate_client

from supabase_local.state import StackState

TABLE_NAME = "bench_realtime"
TABLE = sql.Identifier(TABLE_NAME)
INSERT = sql.SQL("insert into {} (id) values (%s)").format(TABLE)
DEADLINE_SECONDS = 60.0


class Arrivals:
    """Callback times per row id, and an event set when a row has reached every subscriber."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.times: dict[int, list[float]] = {}
        self.complete: dict[int, asyncio.Event] = {}

    def expect(self, key: int) -> asyncio.Event:
        return self.complete.setdefault(key, asyncio.Event())

    def callback(self, payload: dict[str, object]) -> None:
        key = payload["data"]["record"]["id"]
        seen = self.times.setdefault(key, [])
        seen.append(time.perf_counter())
        if len(seen) == self.subscribers:
            self.expect(key).set()


async def subscribe_all(state: StackState, count: int, arrivals: Arrivals) -> list[AsyncClient]:
    clients = []
    for index in range(count):
        client = await acreate_client(state.supabase_url, state.anon_key)
        channel = client.channel(f"bench-{index}").on_postgres_changes("INSERT", arrivals.callback, table=TABLE_NAME)
        await channel.subscribe()
        clients.append(client)
    return clients


async def measure(state: StackState, subscribers: int, samples: int, burst: int) -> dict[str, float]:
    arrivals = Arrivals(subscribers)
    clients = await subscribe_all(state, subscribers, arrivals)
    latencies: list[float] = []
    with psycopg.connect(state.db_url, autocommit=True) as db:
        db.execute(sql.SQL("truncate {}").format(TABLE))
        for key in range(samples):
            done = arrivals.expect(key)
            db.execute(INSERT, (key,))
            committed = time.perf_counter()
            await asyncio.wait_for(done.wait(), DEADLINE_SECONDS)
            latencies.extend((moment - committed) * 1000 for moment in arrivals.times[key])
        last = samples + burst - 1
        done = arrivals.expect(last)
        started = time.perf_counter()
        with db.cursor() as cur:
            cur.executemany(INSERT, [(key,) for key in range(samples, samples + burst)])
        await asyncio.wait_for(done.wait(), DEADLINE_SECONDS)
        elapsed = time.perf_counter() - started
    for client in clients:
        await client.realtime.remove_all_channels()
    delivered = sum(len(arrivals.times.get(key, [])) for key in range(samples, samples + burst))
    return {f"{subscribers} sub latency p50 ms": percentile(latencies, 50),
            f"{subscribers} sub latency p99 ms": percentile(latencies, 99),
            f"{subscribers} sub events/s delivered": delivered / elapsed,
            f"{subscribers} sub commits/s": burst / elapsed}


async def run(state: StackState, subscriber_counts: list[int], samples: int, burst: int) -> dict[str, float]:
    with psycopg.connect(state.db_url, autocommit=True) as db:
        db.execute(sql.SQL("create table {} (id int primary key, note text default 'x')").format(TABLE))
        db.execute(sql.SQL("alter publication supabase_realtime add table {}").format(TABLE))
    figures: dict[str, float] = {}
    for count in subscriber_counts:
        figures.update(await measure(state, count, samples, burst))
    return figures


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark on a throwaway stack, print one line per figure and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="latency samples per subscriber count")
    parser.add_argument("--burst", type=int, default=2000, help="rows in the throughput burst")
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 20])
    args = parser.parse_args(argv)
    with temporary_stack() as stack:
        results = asyncio.run(run(stack, args.subscribers, args.samples, args.burst))
    return print_figures("bench_realtime: commit → postgres_changes callback (one row per transaction)",
                         results, decimals=2)


if __name__ == "__main__":
    main()
