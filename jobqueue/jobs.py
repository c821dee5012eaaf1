"""The client API for scripts: enqueue a job, read its status, wait for it to finish (seed-style names).

It talks to Supabase through supabase-py with the anon key, exactly as a browser or notebook user would:
``submit_job`` is the only write anon may make, and ``job_results`` is readable by everyone.
"""

from __future__ import annotations

import time
from functools import lru_cache
from uuid import UUID

import structlog
from postgrest.exceptions import APIError
from supabase import Client, create_client

from jobqueue.job import Job
from jobqueue.settings import Settings, load_settings

log = structlog.get_logger(__name__)

INVALID_ARGUMENT = "22023"


class InvalidTaskName(ValueError):
    """The database refused the job name; the message says why."""


class JobTimeout(TimeoutError):
    """The job did not finish within the time allowed; ``job`` holds its last known state."""

    def __init__(self, message: str, job: Job | None) -> None:
        super().__init__(message)
        self.job = job


@lru_cache(maxsize=8)
def _client(url: str, key: str) -> Client:
    return create_client(url, key)


def anon_client(settings: Settings | None = None) -> Client:
    """A supabase-py client with the anon key (cached per project)."""
    chosen = settings or load_settings()
    return _client(chosen.supabase_url, chosen.anon_key)


def enqueue_job(task_name: str, settings: Settings | None = None) -> Job:
    """Submit a job through ``submit_job``: its pending row and its queue message are written together."""
    try:
        response = anon_client(settings).rpc("submit_job", {"task_name": task_name}).execute()
    except APIError as err:
        if err.code == INVALID_ARGUMENT:
            raise InvalidTaskName(err.message) from err
        raise
    row = response.data[0] if isinstance(response.data, list) else response.data
    job = Job.from_row(row)
    log.info("jobs.enqueued", job_id=job.job_id, task_name=job.task_name)
    return job


def get_job_status(job_id: str | UUID, settings: Settings | None = None) -> Job | None:
    """The job's current row, or None when no such job exists."""
    response = (anon_client(settings).table("job_results").select("*").eq("job_id", str(job_id))
                .limit(1).execute())
    return Job.from_row(response.data[0]) if response.data else None


def wait_for_job_completion(job_id: str | UUID, timeout: float = 60.0, poll_interval: float = 0.5,
                            settings: Settings | None = None) -> Job:
    """Poll until the job is completed or failed; JobTimeout when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    job = get_job_status(job_id, settings)
    while job is None or not job.finished:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            state = job.status if job else "not found"
            raise JobTimeout(f"job {job_id} did not finish within {timeout:g} s (last status: {state})", job)
        time.sleep(min(poll_interval, remaining))
        job = get_job_status(job_id, settings)
    return job
