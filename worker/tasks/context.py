"""What a running task sees: its job, a way to report progress, and the simulated-work knob of the demo.

Cancellation needs nothing from the task: the worker cancels the task's asyncio task, so any ``await`` in it
raises ``CancelledError`` (a task may catch it to clean up, then re-raise).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ProgressCallback = Callable[[int, str | None], None]


@dataclass(frozen=True)
class TaskResult:
    """What a task returns: the one-line summary (``job_results.result``) and a JSON document (``output``)."""

    summary: str
    output: dict[str, Any] | None = None


@dataclass
class TaskContext:
    """The job a task runs for, and its handles on the worker."""

    job_id: str
    task_name: str
    job_type: str
    attempt: int
    work_min_seconds: float
    work_max_seconds: float
    report: ProgressCallback = field(repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def progress(self, percent: int, message: str | None = None) -> None:
        """Report progress (0-100) without waiting; the worker sends a few updates per second at most."""
        if not 0 <= percent <= 100:
            raise ValueError(f"progress must be between 0 and 100, got {percent}")
        self.report(int(percent), message)

    def work_seconds(self) -> float:
        """How long the demo's simulated work takes this time: JOB_MIN_SECONDS..JOB_MAX_SECONDS."""
        return self.rng.uniform(self.work_min_seconds, self.work_max_seconds)
