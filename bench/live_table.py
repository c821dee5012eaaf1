"""The notebook's live table as a process of its own, for the throughput bench to run beside ``submit_job``.

It watches the jobs one of two ways (``job_watch.py``), prints ``ready`` once joined (``ready <user id>`` in
broadcast mode, whose jobs the bench then submits as that user), then counts the events of jobs whose name starts
with ``--prefix``. On SIGTERM it prints one JSON line: events received, and the jobs whose *completed* update
arrived, so the bench can check that every job's final state reached the subscriber.

    python bench/live_table.py --url URL --key KEY --prefix throughput- [--mode changes|broadcast]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Mapping
from typing import Any

from job_watch import MODES, watch_jobs


async def watch(url: str, key: str, prefix: str, mode: str) -> dict[str, int]:
    """Count ``prefix`` jobs' events until SIGTERM; returns the counts."""
    events = 0
    completed: set[str] = set()

    def on_change(_operation: str, record: Mapping[str, Any]) -> None:
        nonlocal events
        if not str(record.get("task_name", "")).startswith(prefix):
            return
        events += 1
        if record.get("status") == "completed":
            completed.add(str(record["job_id"]))

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    client, user_id = await watch_jobs(url, key, mode, on_change)
    print(f"ready {user_id or ''}".strip(), flush=True)
    await stop.wait()
    await client.realtime.remove_all_channels()
    return {"events": events, "completed_jobs": len(completed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--mode", choices=MODES, default="changes")
    args = parser.parse_args()
    counts = asyncio.run(watch(args.url, args.key, args.prefix, args.mode))
    sys.stdout.write(json.dumps(counts) + "\n")


if __name__ == "__main__":
    main()
