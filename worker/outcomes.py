"""What becomes of a delivery and of an attempt, named once.

``Admission`` is how the runner took a webhook delivery, and each member carries the HTTP status the webhook
answers with: this is the only place that pairs them. ``Outcome`` is how one attempt at a job ended, as ``GET
/runs`` and its totals record it. Both are ``StrEnum``: their members are the plain strings that go on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Admission(StrEnum):
    """How ``Runner.submit`` took a delivery, with the status ``POST /hooks/work-queue`` answers."""

    http_status: int

    def __new__(cls, value: str, http_status: int) -> Admission:
        member = str.__new__(cls, value)
        member._value_ = value
        member.http_status = http_status
        return member

    ACCEPTED = "accepted", 202  # ours to run
    DUPLICATE = "duplicate", 202  # this job is already held here; the delivery adds nothing
    BUSY = "busy", 429  # the backlog is full: the message stays queued, pulled or swept again later
    STOPPING = "stopping", 503  # shutting down: the message stays queued for another worker or the next start


class Outcome(StrEnum):
    """How one attempt ended (``running`` while it has not)."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    RETRYING = "retrying"  # failed; the database scheduled the next attempt
    FAILED = "failed"  # failed for good: dead-lettered
    RELEASED = "released"  # the worker stopped mid-task; the lease runs out and the job is delivered again
    DUPLICATE = "duplicate"  # the job had already ended when this attempt reported
    ERROR = "error"  # the report itself failed; the lease runs out and the job is delivered again

    @classmethod
    def reported(cls, row: Mapping[str, Any] | None) -> Outcome:
        """The outcome the database recorded, from the job's row a report returned (None: no row came back)."""
        if row is None:
            return cls.DUPLICATE
        return _BY_STATUS.get(str(row.get("status")), cls.ERROR)


_BY_STATUS = {"completed": Outcome.COMPLETED, "cancelled": Outcome.CANCELLED, "failed": Outcome.FAILED,
              "pending": Outcome.RETRYING}
