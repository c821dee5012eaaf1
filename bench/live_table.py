"""The notebook's live table as a process of its own, for the throughput bench to run beside ``submit_job``.

It watches the jobs one of two ways (``job_watch.py``), prints ``ready`` once joined (``ready <user id>`` in
broadcast mode, whose jobs the bench then submits as that user), then counts the events of jobs whose name starts
with ``--prefix``. On SIGTERM it prints one JSON line: events received, and the jobs whose *completed* update
arrived, so the bench can check that every job's final state reached the subscriber.

    python bench/live_table.py --url URL --key KEY --prefix throughput- [--mode changes|broadcast]

The benches run it with ``LiveTableProcess``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass
class LiveTableProcess:
    """This script as a process of its own, joined; ``user_id`` is the user whose jobs it receives in broadcast
    mode (None in changes mode: every job)."""

    process: subprocess.Popen[str]
    user_id: str | None

    @classmethod
    def start(cls, url: str, key: str, prefix: str, mode: str) -> LiveTableProcess:
        """Start it and wait until it has joined."""
        process = subprocess.Popen([sys.executable, __file__, "--url", url, "--key", key, "--prefix", prefix,
                                    "--mode", mode], stdout=subprocess.PIPE, text=True)
        ready = process.stdout.readline().split()
        if not ready or ready[0] != "ready":
            process.kill()
            process.wait()
            raise RuntimeError("the live table subscriber did not join")
        return cls(process, ready[1] if len(ready) > 1 else None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> dict[str, int]:
        """End it; the counts it printed."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return json.loads(out.splitlines()[-1])


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
