"""A webhook delivery (``Delivery``) and how a raw body becomes one, with a clear message for anything malformed."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from worker.runs import now_iso
from worker.tasks.registry import DEFAULT_JOB_TYPE

MAX_TASK_NAME = 1000
JOB_TYPE = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Delivery:
    """A validated webhook body: which message announces which job, and when it may be claimed."""

    msg_id: int
    job_id: str
    task_name: str
    webhook_id: str
    job_type: str = DEFAULT_JOB_TYPE
    priority: int = 0
    run_after: float | None = None  # unix time; None means now
    received_at: str = field(default_factory=now_iso)


class BadDelivery(ValueError):
    """The body is not a job announcement; the message says what is wrong with it."""


def _field(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise BadDelivery(f"missing field {name!r}; expected msg_id, job_id and task_name")
    return body[name]


def parse_delivery(raw: bytes, webhook_id: str) -> Delivery:
    """Validate ``{"msg_id", "job_id", "task_name"[, "job_type", "priority", "run_after"]}``; build the delivery."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadDelivery(f"body is not valid JSON: {err}") from err
    if not isinstance(body, dict):
        raise BadDelivery("body must be a JSON object")
    msg_id = _field(body, "msg_id")
    if isinstance(msg_id, bool) or not isinstance(msg_id, int) or msg_id < 1:
        raise BadDelivery("msg_id must be a positive integer")
    job_id = _field(body, "job_id")
    try:
        job_id = str(uuid.UUID(str(job_id)))
    except ValueError as err:
        raise BadDelivery("job_id must be a UUID") from err
    task_name = _field(body, "task_name")
    if not isinstance(task_name, str) or not task_name or len(task_name) > MAX_TASK_NAME:
        raise BadDelivery(f"task_name must be a non-empty string of at most {MAX_TASK_NAME} characters")
    job_type = body.get("job_type", DEFAULT_JOB_TYPE)
    if not isinstance(job_type, str) or not JOB_TYPE.fullmatch(job_type):
        raise BadDelivery("job_type must be a job type name (lower case letters, digits and _)")
    priority = body.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or not -100 <= priority <= 100:
        raise BadDelivery("priority must be an integer from -100 to 100")
    return Delivery(msg_id=msg_id, job_id=job_id, task_name=task_name, webhook_id=webhook_id, job_type=job_type,
                    priority=priority, run_after=_run_after(body.get("run_after")))


def _run_after(value: Any) -> float | None:
    """The unix time a delayed job may be claimed, from the body's ISO 8601 timestamp (absent: now)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as err:
        raise BadDelivery("run_after must be an ISO 8601 timestamp") from err
    if moment.tzinfo is None:
        raise BadDelivery("run_after must carry a time zone")
    return moment.timestamp()
