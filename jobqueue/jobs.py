"""The jobs API for scripts (seed-style names): enqueue a job, read its status, wait for it, cancel it, stats.

Each call runs the async API (``jobqueue.jobs_async``) on a private event loop in a short-lived thread, so it
works the same from a script and from inside a running notebook kernel; waiting uses Realtime, as there.

Jobs belong to the user who submits them: the process signs in anonymously on its first call and every later call
reuses that session (a new user per call would not see the job it has just submitted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

from supabase import AsyncClient, acreate_client

from jobqueue import jobs_async
from jobqueue.job import Job
from jobqueue.job_requests import JobRejected, QueueFull, Seconds
from jobqueue.jobs_async import JobTimeout
from jobqueue.settings import Settings, load_settings

__all__ = ["Job", "JobRejected", "JobTimeout", "QueueFull", "cancel_job", "enqueue_job", "get_job_status",
           "job_stats", "wait_for_job_completion"]

T = TypeVar("T")
ClientFactory = Callable[[Settings | None], Awaitable[AsyncClient]]

# The process's visitor per project URL: (access token, refresh token) of its latest session.
_sessions: dict[str, tuple[str, str]] = {}


async def _visitor(settings: Settings | None) -> AsyncClient:
    """A client signed in as the process's visitor: the saved session (refreshed if it expired), else a new
    anonymous sign-in."""
    chosen = settings or load_settings()
    saved = _sessions.get(chosen.supabase_url)
    if saved is None:
        return await jobs_async.visitor_client(chosen)
    client = await acreate_client(chosen.supabase_url, chosen.anon_key)
    await client.auth.set_session(*saved)
    return client


def _run(make_client: ClientFactory, settings: Settings | None, call: Callable[[AsyncClient], Awaitable[T]]) -> T:
    chosen = settings or load_settings()

    async def with_client() -> T:
        client = await make_client(chosen)
        try:
            return await call(client)
        finally:
            session = await client.auth.get_session()
            if session is not None:  # kept, rotated tokens included, for the next call
                _sessions[chosen.supabase_url] = (session.access_token, session.refresh_token)
            await client.postgrest.aclose()
            await client.realtime.close()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobqueue-api") as pool:
        return pool.submit(asyncio.run, with_client()).result()


def enqueue_job(job_type: str, payload: Mapping[str, Any] | None = None, *, task_name: str | None = None,
                priority: int | None = None, delay: Seconds | None = None, max_attempts: int | None = None,
                timeout: Seconds | None = None, idempotency_key: str | None = None,
                settings: Settings | None = None) -> Job:
    """Submit a job (the seed's ``enqueueJob(type, inputData, options)``); ``JobRejected`` says what was refused."""
    return _run(_visitor, settings, lambda client: jobs_async.enqueue_job(
        client, job_type, payload, task_name=task_name, priority=priority, delay=delay, max_attempts=max_attempts,
        timeout=timeout, idempotency_key=idempotency_key))


def get_job_status(job_id: str | UUID, settings: Settings | None = None) -> Job | None:
    """The job's current row, or None when no such job exists."""
    return _run(_visitor, settings, lambda client: jobs_async.get_job_status(client, job_id))


def wait_for_job_completion(job_id: str | UUID, timeout: float = 60.0, poll_interval: float = 1.0,
                            settings: Settings | None = None) -> Job:
    """Block until the job is completed, failed or cancelled (pushed by Realtime); ``JobTimeout`` after ``timeout``."""
    return _run(_visitor, settings, lambda client: jobs_async.wait_for_job_completion(
        client, job_id, timeout, poll_interval))


def cancel_job(job_id: str | UUID, settings: Settings | None = None) -> Job:
    """Cancel a job as the operator (service role): pending ends at once, running is stopped by its worker."""
    return _run(jobs_async.service_client, settings, lambda client: jobs_async.cancel_job(client, job_id))


def job_stats(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Per job type and status: counts, p50/p95 wait and run seconds, failures and retries."""
    return _run(_visitor, settings, jobs_async.job_stats)
