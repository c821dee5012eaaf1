"""The live job table's data, without any widget: rows keyed by job_id, newest N kept, stale updates refused.

Realtime events and REST re-reads both feed :meth:`JobTableModel.upsert`. A row read over REST may be older than
what Realtime already delivered (the read started before the event), so a record only replaces a row when it is
newer by ``updated_at``. Each upsert touches one row: a dict lookup plus a binary search in the display order.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from jobqueue.job import Job


class ChangeKind(Enum):
    ADDED = "added"
    UPDATED = "updated"
    REMOVED = "removed"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Change:
    """What one upsert or delete did, so the view can touch only that row (and the evicted one)."""

    kind: ChangeKind
    row: Job | None = None
    position: int = -1
    evicted: Job | None = None


def _sort_key(row: Job) -> tuple[float, str]:
    """Newest first: the order key is the negated creation time, ties broken by job id."""
    created = row.created_at.timestamp() if row.created_at else float("inf")
    return (-created, row.job_id)


class JobTableModel:
    """The newest ``max_rows`` jobs, newest first, keyed by job_id."""

    def __init__(self, max_rows: int = 50) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self.max_rows = max_rows
        self._rows: dict[str, Job] = {}
        self._order: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._rows

    def __iter__(self) -> Iterator[Job]:
        """The rows, newest first."""
        return (self._rows[job_id] for _, job_id in self._order)

    def get(self, job_id: str) -> Job | None:
        """The row of ``job_id``, or None when it is not (or no longer) in the table."""
        return self._rows.get(job_id)

    def upsert(self, record: Mapping[str, Any] | Job) -> Change:
        """Add or update one row from a record; older versions and rows older than the newest N are ignored."""
        row = record if isinstance(record, Job) else Job.from_row(record)
        current = self._rows.get(row.job_id)
        if current is not None:
            if not row.is_newer_than(current):
                return Change(ChangeKind.IGNORED, current)
            if _sort_key(current) != _sort_key(row):
                self._order.pop(bisect.bisect_left(self._order, _sort_key(current)))
                bisect.insort(self._order, _sort_key(row))
            self._rows[row.job_id] = row
            return Change(ChangeKind.UPDATED, row, bisect.bisect_left(self._order, _sort_key(row)))
        key = _sort_key(row)
        if len(self._order) >= self.max_rows and key > self._order[-1]:
            return Change(ChangeKind.IGNORED, row)
        bisect.insort(self._order, key)
        self._rows[row.job_id] = row
        evicted = None
        if len(self._order) > self.max_rows:
            _, evicted_id = self._order.pop()
            evicted = self._rows.pop(evicted_id)
        return Change(ChangeKind.ADDED, row, bisect.bisect_left(self._order, key), evicted)

    def upsert_many(self, records: Iterable[Mapping[str, Any]]) -> list[Change]:
        """Merge a batch (a REST re-read); returns the changes that did something."""
        changes = (self.upsert(record) for record in records)
        return [change for change in changes if change.kind is not ChangeKind.IGNORED]

    def remove(self, old_record: Mapping[str, Any]) -> Change:
        """Drop a deleted job's row, found by ``job_id`` or, when the old record holds only the key, by ``id``."""
        job_id = old_record.get("job_id")
        if job_id is None and old_record.get("id") is not None:
            job_id = next((row.job_id for row in self._rows.values() if row.id == str(old_record["id"])), None)
        row = self._rows.pop(str(job_id), None) if job_id is not None else None
        if row is None:
            return Change(ChangeKind.IGNORED)
        position = bisect.bisect_left(self._order, _sort_key(row))
        self._order.pop(position)
        return Change(ChangeKind.REMOVED, row, position)
