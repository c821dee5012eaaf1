"""Commit → Realtime callback for jobs, at a steady submit rate with the worker running, watched either way.

A supabase ``AsyncClient`` watches the jobs as ``job_watch.watch_jobs`` does: by ``postgres_changes`` as the service
role (``changes``: the operator's view of every job), or signed in anonymously on its private topic ``jobs:<user
id>`` (``broadcast``), the jobs then submitted as that user. Jobs are submitted at ``rate`` per second, each
``submit_job`` its own transaction. The latency of a job is from the return of its committing call to the callback
of its INSERT (the *pending* row); the worker's updates of the same rows (processing, completed) flow through the
same channel meanwhile, so the channel carries three events a job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import psycopg
from job_watch import SET_CLAIMS, claims_of, key_for, watch_jobs

from jobqueue.settings import Settings

DEADLINE_SECONDS = 30.0


async def pending_event_latencies(settings: Settings, jobs: int, rate: float, mode: str = "changes") -> list[float]:
    """Milliseconds from each submit's commit to its INSERT event, submitting ``rate`` jobs per second. In
    broadcast mode the user's submit rate limit must allow ``jobs`` a minute (the caller lifts it)."""
    arrived: dict[str, float] = {}
    all_in = asyncio.Event()

    def on_change(operation: str, record: Mapping[str, Any]) -> None:
        if operation == "INSERT" and str(record.get("task_name", "")).startswith("events-"):
            arrived.setdefault(str(record["job_id"]), time.perf_counter())
            if len(arrived) >= jobs:
                all_in.set()

    client, user_id = await watch_jobs(settings.supabase_url, key_for(settings, mode), mode, on_change)
    await asyncio.sleep(0.5)  # joined on the server before the first commit
    committed: dict[str, float] = {}
    try:
        async with await psycopg.AsyncConnection.connect(settings.db_url, autocommit=True) as db:
            if user_id is not None:
                await db.execute(SET_CLAIMS, (claims_of(user_id),))
            start = time.perf_counter()
            for n in range(jobs):
                await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
                cursor = await db.execute("select job_id from public.submit_job(%s)", (f"events-{n}",))
                at = time.perf_counter()
                committed[str((await cursor.fetchone())[0])] = at
        await asyncio.wait_for(all_in.wait(), DEADLINE_SECONDS)
    finally:
        await client.realtime.remove_all_channels()
    return [(arrived[job_id] - at) * 1000 for job_id, at in committed.items()]
