"""Running one claimed job's task: find its type, check its payload, run it under its timeout, watched for a cancel.

Every way an attempt can end comes back as a value (``TaskResult``, ``Failed`` or ``CANCELLED``), for the
attempt to write; only the worker's own shutdown propagates (``CancelledError``).

A job whose type this worker does not know fails permanently, at once, with a message naming the type and the
types this worker serves. Its type is in ``job_types`` (``submit_job`` refuses any other), so the worker is
older than the provisioning that wrote it: until someone restarts it with the new task, every attempt would
fail the same way. Retrying would only delay the verdict by the whole back-off, and leaving the message for
"a worker that knows it" would leave the job pending and unexplained where one worker serves the webhook and
the pull takes the highest priority first. Dead-lettered, the job is visible as failed with its reason, and
``retry_failed_jobs()`` sends it back once a worker that serves the type runs.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from worker.cancels import CancelWatch
from worker.claim import ClaimedJob
from worker.config import WorkerConfig
from worker.tasks import PayloadInvalid, TaskContext, TaskRegistry, TaskResult
from worker.tasks.context import ProgressCallback


@dataclass(frozen=True)
class Failed:
    """An attempt failed; a ``permanent`` failure is dead-lettered at once (retrying cannot help)."""

    error: str
    permanent: bool = False


@dataclass(frozen=True)
class Cancelled:
    """The operator cancelled the job and its task has stopped."""


CANCELLED = Cancelled()
Ended = TaskResult | Failed | Cancelled


def unknown_job_type(job_type: str, registry: TaskRegistry) -> Failed:
    """The permanent failure of a job whose type ``registry`` lacks, saying what to do about it."""
    return Failed(f"job type {job_type!r} is not registered in this worker (it serves: {', '.join(registry.names())}"
                  "); restart the worker after adding a task", permanent=True)


class TaskExecutor:
    """Runs claimed jobs' tasks with this worker's registry and settings."""

    def __init__(self, config: WorkerConfig, registry: TaskRegistry, cancels: CancelWatch,
                 rng: random.Random) -> None:
        self._config = config
        self._registry = registry
        self._cancels = cancels
        self._rng = rng

    async def run(self, job: ClaimedJob, report: ProgressCallback) -> Ended:
        """The job's task under its timeout; how it ended."""
        definition = self._registry.get(job.job_type)
        if definition is None:
            return unknown_job_type(job.job_type, self._registry)
        try:
            payload = definition.parse(job.payload)
        except PayloadInvalid as err:
            return Failed(str(err), permanent=True)
        pattern = self._config.fail_pattern
        if pattern is not None and pattern.search(job.task_name):
            return Failed(f"task {job.task_name!r} matches JOB_FAIL_PATTERN {pattern.pattern!r}")
        context = TaskContext(job.job_id, job.task_name, job.job_type, job.attempt, self._config.job_min_seconds,
                              self._config.job_max_seconds, report, self._rng)
        task = asyncio.create_task(definition.run(payload, context), name=f"task-{job.job_id}")
        execution = self._cancels.track(job.job_id, task)
        try:
            async with asyncio.timeout(job.timeout_seconds):
                return await task
        except TimeoutError:
            return Failed(f"timed out after {job.timeout_seconds:g} s")
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the worker is shutting down
            if execution.cancel_requested:
                return CANCELLED
            return Failed("the task was cancelled without a cancel request")
        except Exception as err:
            return Failed(f"{type(err).__name__}: {err}")
        finally:
            self._cancels.forget(job.job_id)
