"""The jobs API for async code (notebooks, async apps): enqueue, status, wait on Realtime, cancel, stats.

Submitting and reading use the anon key, as a browser would; cancelling is the operator's and uses the service
role. ``wait_for_job_completion`` subscribes to the job's row over Realtime and reads it once over REST after
each (re)subscribe, so a finish that came first is not missed; it polls only while Realtime is down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import structlog
from postgrest.exceptions import APIError
from realtime import RealtimeSubscribeStates
from supabase import AsyncClient, acreate_client

from jobqueue.job import Job
from jobqueue.job_requests import Seconds, first_row, rejection, submit_arguments
from jobqueue.settings import Settings, load_settings

log = structlog.get_logger(__name__)

TABLE = "job_results"


class JobTimeout(TimeoutError):
    """The job did not finish within the time allowed; ``job`` holds its last known state."""

    def __init__(self, message: str, job: Job | None) -> None:
        super().__init__(message)
        self.job = job


async def anon_client(settings: Settings | None = None) -> AsyncClient:
    """An async supabase-py client with the anon key: what a browser or notebook user holds."""
    chosen = settings or load_settings()
    return await acreate_client(chosen.supabase_url, chosen.anon_key)


async def service_client(settings: Settings | None = None) -> AsyncClient:
    """An async client with the service-role key: the operator's (never ship it to a browser)."""
    chosen = settings or load_settings()
    return await acreate_client(chosen.supabase_url, chosen.service_role_key)


async def enqueue_job(client: AsyncClient, job_type: str, payload: Mapping[str, Any] | None = None, *,
                      task_name: str | None = None, priority: int | None = None, delay: Seconds | None = None,
                      max_attempts: int | None = None, timeout: Seconds | None = None,
                      idempotency_key: str | None = None) -> Job:
    """Submit a job through ``submit_job``: its pending row and queue message are written together.

    ``JobRejected`` (``QueueFull`` when the queue is at its bound) names what was refused; nothing is queued.
    """
    arguments = submit_arguments(job_type, payload, task_name=task_name, priority=priority, delay=delay,
                                 max_attempts=max_attempts, timeout=timeout, idempotency_key=idempotency_key)
    try:
        response = await client.rpc("submit_job", arguments).execute()
    except APIError as err:
        refused = rejection(err)
        if refused is not None:
            raise refused from err
        raise
    job = Job.from_row(first_row(response.data))
    log.info("jobs.enqueued", job_id=job.job_id, job_type=job.job_type, task_name=job.task_name)
    return job


async def get_job_status(client: AsyncClient, job_id: str | UUID) -> Job | None:
    """The job's current row, or None when no such job exists."""
    response = await client.table(TABLE).select("*").eq("job_id", str(job_id)).limit(1).execute()
    return Job.from_row(response.data[0]) if response.data else None


async def cancel_job(client: AsyncClient, job_id: str | UUID) -> Job:
    """Cancel a job (service-role client): a pending one ends at once, a running one is stopped by its worker."""
    response = await client.rpc("cancel_job", {"job_id": str(job_id)}).execute()
    return Job.from_row(first_row(response.data))


async def job_stats(client: AsyncClient) -> list[dict[str, Any]]:
    """The ``job_stats`` view: per job type and status, counts, p50/p95 wait and run times, failures."""
    response = await client.table("job_stats").select("*").order("job_type").order("status").execute()
    return list(response.data or [])


async def job_types(client: AsyncClient) -> list[dict[str, Any]]:
    """The ``job_types`` rows: what the worker can run, its defaults and payload schema."""
    response = await client.table("job_types").select("*").order("name").execute()
    return list(response.data or [])


class _Watch:
    """Realtime's view of one job: its final row once seen, and whether the channel is up."""

    def __init__(self) -> None:
        self.final: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self.subscribed = False
        self.changed = asyncio.Event()

    def on_change(self, payload: Mapping[str, Any]) -> None:
        record = (payload.get("data") or {}).get("record") or {}
        if record.get("job_id"):
            self.offer(Job.from_row(record))

    def on_state(self, status: RealtimeSubscribeStates, _error: Exception | None) -> None:
        self.subscribed = status == RealtimeSubscribeStates.SUBSCRIBED
        self.changed.set()

    def offer(self, job: Job) -> None:
        if job.finished and not self.final.done():
            self.final.set_result(job)


async def wait_for_job_completion(client: AsyncClient, job_id: str | UUID, timeout: float = 60.0,
                                  poll_interval: float = 1.0) -> Job:
    """The job once it is completed, failed or cancelled; ``JobTimeout`` when ``timeout`` seconds pass first."""
    job_id = str(job_id)
    watch = _Watch()
    channel = client.channel(f"job-{job_id}")
    channel.on_postgres_changes("UPDATE", schema="public", table=TABLE, filter=f"job_id=eq.{job_id}",
                                callback=watch.on_change)
    last: Job | None = None
    try:
        async with asyncio.timeout(timeout):
            await channel.subscribe(watch.on_state)
            while not watch.final.done():
                watch.changed.clear()
                last = await get_job_status(client, job_id)
                if last is None:
                    raise LookupError(f"no job has job_id {job_id}")
                watch.offer(last)
                changed = asyncio.ensure_future(watch.changed.wait())
                await asyncio.wait({watch.final, changed}, return_when=asyncio.FIRST_COMPLETED,
                                   timeout=None if watch.subscribed else poll_interval)
                changed.cancel()
            return watch.final.result()
    except TimeoutError:
        state = last.status if last else "not found"
        raise JobTimeout(f"job {job_id} did not finish within {timeout:g} s (last status: {state})", last) from None
    finally:
        with contextlib.suppress(Exception):
            await client.remove_channel(channel)
