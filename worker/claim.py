"""A claimed job as the worker needs it, read by column name from the row ``mark_job_processing`` returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.tasks.registry import DEFAULT_JOB_TYPE


@dataclass(frozen=True)
class ClaimedJob:
    """What a task run needs: identity, type, payload, attempt number and limits."""

    job_id: str
    task_name: str
    attempt: int
    msg_id: int | None = None
    job_type: str = DEFAULT_JOB_TYPE
    payload: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ClaimedJob:
        """Build from a ``job_results`` row; columns of an older schema may be missing."""
        timeout = row.get("timeout_seconds")
        return cls(job_id=str(row["job_id"]), task_name=str(row["task_name"]), attempt=int(row["attempts"]),
                   msg_id=row.get("msg_id"), job_type=str(row.get("job_type") or DEFAULT_JOB_TYPE),
                   payload=row.get("payload") or {}, timeout_seconds=float(timeout) if timeout else None)
