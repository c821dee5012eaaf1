"""Commit → Realtime callback for jobs, at a steady submit rate with the worker running.

A supabase ``AsyncClient`` (the service role: the bench's jobs have no user, so only the operator sees them)
subscribes to every change of ``job_results``; jobs are submitted at ``rate`` per second, each ``submit_job`` its
own transaction. The latency of a job is from the return of its committing call to the callback of its INSERT (the
*pending* row); the worker's updates of the same rows (processing, completed) flow through the same channel
meanwhile, so the channel carries three events a job.
"""

from __future__ import annotations

import asyncio
import time

import psycopg
from supabase import acreate_client

from jobqueue.settings import Settings

DEADLINE_SECONDS = 30.0


async def pending_event_latencies(settings: Settings, jobs: int, rate: float) -> list[float]:
    """Milliseconds from each submit's commit to its INSERT event, submitting ``rate`` jobs per second."""
    arrived: dict[str, float] = {}
    all_in = asyncio.Event()

    def on_change(payload: dict[str, object]) -> None:
        data = payload["data"]
        if data["type"] == "INSERT":
            arrived.setdefault(str(data["record"]["job_id"]), time.perf_counter())
            if len(arrived) >= jobs:
                all_in.set()

    client = await acreate_client(settings.supabase_url, settings.service_role_key)
    channel = client.channel("bench-job-events").on_postgres_changes("*", on_change, schema="public",
                                                                    table="job_results")
    await channel.subscribe()
    await asyncio.sleep(0.5)  # joined on the server before the first commit
    committed: dict[str, float] = {}
    try:
        async with await psycopg.AsyncConnection.connect(settings.db_url, autocommit=True) as db:
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
