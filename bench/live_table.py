"""The notebook's live table as a process of its own, for the throughput bench to run beside ``submit_job``.

A supabase ``AsyncClient`` subscribes to every change of ``job_results`` with ``postgres_changes``, prints ``ready``
once joined, then counts the events of jobs whose name starts with ``--prefix``. On SIGTERM it prints one JSON line:
events received, and the jobs whose *completed* update arrived, so the bench can check that every job's final state
reached the subscriber. The bench's jobs are submitted without a user, so the key is the service role's (the
operator's view of every job).

    python bench/live_table.py --url URL --key KEY --prefix throughput-
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from supabase import acreate_client


async def watch(url: str, key: str, prefix: str) -> dict[str, int]:
    """Count ``prefix`` jobs' events until SIGTERM; returns the counts."""
    events = 0
    completed: set[str] = set()

    def on_change(payload: dict[str, object]) -> None:
        nonlocal events
        record = payload["data"].get("record") or {}
        if not str(record.get("task_name", "")).startswith(prefix):
            return
        events += 1
        if record.get("status") == "completed":
            completed.add(str(record["job_id"]))

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    client = await acreate_client(url, key)
    joined = asyncio.Event()
    channel = client.channel("bench-live-table").on_postgres_changes("*", on_change, schema="public",
                                                                    table="job_results")
    await channel.subscribe(lambda status, _error: joined.set() if status.value == "SUBSCRIBED" else None)
    await joined.wait()
    print("ready", flush=True)
    await stop.wait()
    await client.realtime.remove_all_channels()
    return {"events": events, "completed_jobs": len(completed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--prefix", required=True)
    args = parser.parse_args()
    counts = asyncio.run(watch(args.url, args.key, args.prefix))
    sys.stdout.write(json.dumps(counts) + "\n")


if __name__ == "__main__":
    main()
