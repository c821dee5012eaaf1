"""The jobs API for async code (notebooks, async apps): enqueue, status, wait on Realtime, cancel, stats.

Jobs belong to the user who submits them, so a visitor's client signs in first (an anonymous sign-in, as a
browser app would do) and then reads and cancels their own jobs only; the operator's client uses the service role
and sees every job. ``wait_for_job_completion`` waits on the same job feed as the live table, scoped to one job:
Realtime pushes its row (on the user's private topic ``jobs:<user id>``), it is read once over REST after each
(re)subscribe, so a finish that came first is not missed, and it is polled only while Realtime is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import structlog
from postgrest.exceptions import APIError
from supabase import AsyncClient, acreate_client

from jobqueue.feed import JobFeed
from jobqueue.job import TERMINAL_STATUSES, Job
from jobqueue.job_requests import Seconds, first_row, rejection, submit_arguments
from jobqueue.settings import Settings, load_settings

log = structlog.get_logger(__name__)

TABLE = "job_results"


class JobTimeout(TimeoutError):
    """The job did not finish within the time allowed; ``job`` holds its last known state."""

    def __init__(self, message: str, job: Job | None) -> None:
        super().__init__(message)
        self.job = job


async def visitor_client(settings: Settings | None = None) -> AsyncClient:
    """An async supabase-py client with the anon key, signed in as a new anonymous user: what a browser or
    notebook visitor holds. The bare anon key cannot submit jobs; an anonymous sign-in is a real user."""
    chosen = settings or load_settings()
    client = await acreate_client(chosen.supabase_url, chosen.anon_key)
    await client.auth.sign_in_anonymously()
    return client


async def jobs_topic(client: AsyncClient) -> str | None:
    """The private broadcast topic of the client's user, ``jobs:<user id>``, with the Realtime socket given the
    session's token (what the topic's policy checks); None for a client without a user (the service role), whose
    feed uses ``postgres_changes`` on every job."""
    session = await client.auth.get_session()
    if session is None:
        return None
    await client.realtime.set_auth(session.access_token)
    return f"jobs:{session.user.id}"


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
    """Cancel a job (a user their own, the service role any): a pending one ends at once, a running one is stopped
    by its worker."""
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


async def wait_for_job_completion(client: AsyncClient, job_id: str | UUID, timeout: float = 60.0,
                                  poll_interval: float = 1.0) -> Job:
    """The job once it is completed, failed or cancelled; ``JobTimeout`` when ``timeout`` seconds pass first.

    It waits on a :class:`JobFeed` of this one job: pushed by Realtime, re-read after each (re)subscribe, and
    re-read every ``poll_interval`` seconds only while Realtime is down.
    """
    job_id = str(job_id)
    feed = JobFeed(client, job_id=job_id, poll_seconds=poll_interval, name="job", topic=await jobs_topic(client))
    try:
        async with asyncio.timeout(timeout):
            await feed.start(require_subscribed=False)
            if feed.get(job_id) is None:
                raise LookupError(f"no job has job_id {job_id}")
            [done] = await feed.wait_for([job_id], TERMINAL_STATUSES, timeout=timeout)
            return done
    except TimeoutError:
        last = feed.get(job_id)
        state = last.status if last else "not found"
        raise JobTimeout(f"job {job_id} did not finish within {timeout:g} s (last status: {state})", last) from None
    finally:
        await feed.stop()
