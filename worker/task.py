"""The simulated job: wait a configured while, then return a result (or fail, for names matching a pattern)."""

from __future__ import annotations

import asyncio
import random
import re


class TaskFailed(RuntimeError):
    """The task did not produce a result; the message becomes the job's error."""


async def run_task(job_id: str, task_name: str, min_seconds: float, max_seconds: float,
                   fail_pattern: re.Pattern[str] | None, rng: random.Random) -> str:
    """Do the job's "work" (a sleep of min..max seconds) and describe it; stands in for a real task."""
    duration = rng.uniform(min_seconds, max_seconds)
    await asyncio.sleep(duration)
    if fail_pattern is not None and fail_pattern.search(task_name):
        raise TaskFailed(f"task {task_name!r} matches JOB_FAIL_PATTERN {fail_pattern.pattern!r}")
    return f"Processed {task_name!r} (job {job_id}) in {duration:.2f}s"
