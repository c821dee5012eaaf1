"""The worker's own record of what it ran (job, attempt, start, duration, outcome), served at ``GET /runs``."""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from worker.outcomes import Outcome


def now_iso() -> str:
    """The current UTC time as ISO 8601, the format of every timestamp the worker reports."""
    return datetime.now(UTC).isoformat()


@dataclass
class Run:
    """One attempt at one job by this worker process (``pid``: several may serve one port)."""

    job_id: str
    task_name: str
    msg_id: int | None
    attempt: int
    source: str
    received_at: str
    job_type: str
    started_at: str = field(default_factory=now_iso)
    duration_seconds: float | None = None
    outcome: Outcome = Outcome.RUNNING
    error: str | None = None
    pid: int = field(default_factory=os.getpid)
    _started: float = field(default_factory=time.monotonic, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The public fields, JSON-ready."""
        data = asdict(self)
        data.pop("_started")
        return data


class RunLog:
    """The newest ``capacity`` runs, running ones included; old ones fall off so memory stays bounded."""

    def __init__(self, capacity: int = 1000) -> None:
        self._runs: deque[Run] = deque(maxlen=capacity)
        self.totals: dict[Outcome, int] = {}

    def start(self, job_id: str, task_name: str, msg_id: int | None, attempt: int, source: str,
              received_at: str, job_type: str) -> Run:
        """Record that an attempt began."""
        run = Run(job_id, task_name, msg_id, attempt, source, received_at, job_type)
        self._runs.append(run)
        return run

    def finish(self, run: Run, outcome: Outcome, error: str | None = None) -> None:
        """Record how an attempt ended."""
        run.duration_seconds = round(time.monotonic() - run._started, 4)
        run.outcome = outcome
        run.error = error
        self.totals[outcome] = self.totals.get(outcome, 0) + 1

    def snapshot(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` runs, newest first."""
        newest = list(self._runs)[-limit:] if limit > 0 else []
        return [run.as_dict() for run in reversed(newest)]
