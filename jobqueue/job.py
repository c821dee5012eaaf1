"""One ``job_results`` row as Python sees it, whether it came from REST, an RPC or a Realtime record.

Rows are mapped by column name: columns this version does not know are ignored, so a schema that gains a
column never breaks a reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from worker.tasks.registry import DEFAULT_JOB_TYPE

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
ACTIVE_STATUSES = frozenset({"pending", "processing"})
_TIMESTAMPS = ("created_at", "started_at", "completed_at", "updated_at", "run_after", "cancelled_at")


def parse_timestamp(value: Any) -> datetime | None:
    """A timezone-aware datetime from a REST or Realtime value (ISO text, possibly naive or ending in Z)."""
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace(" ", "T", 1))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


@dataclass(frozen=True)
class Job:
    """One job: its identity, type, input and output, state, progress and the times it moved through the pipeline."""

    job_id: str
    task_name: str
    status: str
    id: str | None = None
    job_type: str = DEFAULT_JOB_TYPE
    payload: dict[str, Any] | None = None
    result: str | None = None
    output: Any = None
    error: str | None = None
    attempts: int = 0
    max_attempts: int | None = None
    priority: int = 0
    timeout_seconds: int | None = None
    idempotency_key: str | None = None
    progress: int = 0
    progress_message: str | None = None
    msg_id: int | None = None
    created_at: datetime | None = None
    run_after: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        """Build a Job from a row or Realtime record; a record without ``job_id`` is refused."""
        if not row.get("job_id"):
            raise ValueError(f"a job_results record needs a job_id, got keys {sorted(row)}")
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in row.items() if key in known}
        for key in ("job_id", "id"):
            if values.get(key) is not None:
                values[key] = str(values[key])
        for key in _TIMESTAMPS:
            values[key] = parse_timestamp(values.get(key))
        for key in ("attempts", "priority", "progress"):
            values[key] = int(values.get(key) or 0)
        values.setdefault("task_name", "")
        values.setdefault("status", "pending")
        return cls(**values)

    @property
    def finished(self) -> bool:
        """True once the job is completed, failed or cancelled; none changes again on its own."""
        return self.status in TERMINAL_STATUSES

    @property
    def waiting_seconds(self) -> float | None:
        """Time in the queue: created (or, for a delayed job, due) until a worker started it."""
        return _seconds(self.run_after or self.created_at, self.started_at)

    @property
    def running_seconds(self) -> float | None:
        """Time in the worker: started until completed or failed."""
        return _seconds(self.started_at, self.completed_at)

    @property
    def total_seconds(self) -> float | None:
        """Time from submission to the final state."""
        return _seconds(self.created_at, self.completed_at)

    def age_seconds(self, now: datetime) -> float | None:
        """Time since the job was submitted."""
        return _seconds(self.created_at, now)

    def is_newer_than(self, other: Job) -> bool:
        """Whether this version of the row should replace ``other`` (a later ``updated_at`` wins)."""
        if self.updated_at is not None and other.updated_at is not None:
            return self.updated_at > other.updated_at
        if other.finished and not self.finished:
            return False
        return (self.attempts, self.finished) >= (other.attempts, other.finished)
