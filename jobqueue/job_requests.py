"""What the sync and async jobs APIs share: building ``submit_job``'s arguments and reading its refusals."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from postgrest.exceptions import APIError

INVALID_ARGUMENT = "22023"
QUEUE_FULL = "PT429"
Seconds = float | timedelta


class JobRejected(ValueError):
    """``submit_job`` refused the request; ``argument`` names the one at fault, nothing was queued."""

    def __init__(self, message: str, argument: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.hint = hint


class QueueFull(JobRejected):
    """The queue holds as many waiting jobs as it may; retry later. Nothing was queued."""


def _whole_seconds(value: Seconds | None, name: str) -> int | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if math.isnan(seconds):
        raise JobRejected(f"{name} is not a number", name)
    return math.ceil(seconds)


def submit_arguments(job_type: str, payload: Mapping[str, Any] | None, *, task_name: str | None,
                     priority: int | None, delay: Seconds | None, max_attempts: int | None,
                     timeout: Seconds | None, idempotency_key: str | None) -> dict[str, Any]:
    """The named arguments of ``submit_job``; options left as None take the job type's defaults."""
    arguments: dict[str, Any] = {"task_name": task_name if task_name is not None else job_type,
                                 "job_type": job_type, "payload": dict(payload) if payload is not None else {}}
    optional = {"priority": priority, "delay_seconds": _whole_seconds(delay, "delay"),
                "max_attempts": max_attempts, "timeout_seconds": _whole_seconds(timeout, "timeout"),
                "idempotency_key": idempotency_key}
    arguments.update({key: value for key, value in optional.items() if value is not None})
    return arguments


def rejection(err: APIError) -> JobRejected | None:
    """The ``JobRejected`` an API error stands for, or None when it is not a refusal of the request."""
    if err.code not in (INVALID_ARGUMENT, QUEUE_FULL):
        return None
    details = err.details or ""
    argument = details.removeprefix("argument: ") if details.startswith("argument: ") else None
    kind = QueueFull if err.code == QUEUE_FULL else JobRejected
    return kind(err.message or "the job was refused", argument, err.hint)


def first_row(data: Any) -> dict[str, Any]:
    """The one row an RPC returning a composite answers with (PostgREST gives an object or a one-item list)."""
    row = data[0] if isinstance(data, list) and data else data
    if not isinstance(row, dict) or "job_id" not in row:
        raise RuntimeError(f"expected a job row, got {data!r}")
    return row
