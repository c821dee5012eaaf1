"""One idempotency key per request the form shows: a double-click, or pressing again, makes one job.

The key is minted on the first click and kept until a field changes; ``submit_job`` returns the job already
holding the key instead of queueing a second one. Recording the job each answer names tells the form whether
the server made a new job or handed back the one it made before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable


def _random_key() -> str:
    return f"form-{uuid.uuid4().hex}"


class RequestKey:
    """The idempotency key of the request currently in the form, and the job it produced."""

    def __init__(self, mint: Callable[[], str] = _random_key) -> None:
        self._mint = mint
        self._key: str | None = None
        self._job_id: str | None = None

    def current(self) -> str:
        """The key for the form as it is now; minted on first use after a change."""
        if self._key is None:
            self._key = self._mint()
            self._job_id = None
        return self._key

    @property
    def pending(self) -> str | None:
        """The key the next click sends again, or None when the next click mints a new one."""
        return self._key

    def forget(self) -> None:
        """A field changed: the next click is a new request with a new key."""
        self._key = None
        self._job_id = None

    def answered(self, key: str, job_id: str) -> bool:
        """Record the job the server answered ``key`` with; True when it is the job this key already made."""
        if key != self._key:
            return False
        repeated = self._job_id == job_id
        self._job_id = job_id
        return repeated
