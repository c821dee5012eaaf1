"""Turning a raw webhook body into a ``Delivery``, with a clear message for anything malformed."""

from __future__ import annotations

import json
import uuid
from typing import Any

from worker.runner import Delivery

MAX_TASK_NAME = 1000


class BadDelivery(ValueError):
    """The body is not a job announcement; the message says what is wrong with it."""


def _field(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise BadDelivery(f"missing field {name!r}; expected msg_id, job_id and task_name")
    return body[name]


def parse_delivery(raw: bytes, webhook_id: str) -> Delivery:
    """Validate ``{"msg_id": int, "job_id": uuid, "task_name": str}`` and build the delivery."""
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
    return Delivery(msg_id=msg_id, job_id=job_id, task_name=task_name, webhook_id=webhook_id)
