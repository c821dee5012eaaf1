"""Orphaned jobs: ``processing`` rows whose worker is gone, and when their lease (the message's vt) runs out.

A row says ``processing`` until some worker reports again, so a killed worker's job would read "Processing 36s"
forever. What decides when it runs again is the lease: the queue message stays invisible until its ``vt``, then
the sweeper re-delivers it. The health panel reads the leases from ``pgmq.q_work_queue`` and the runs of the
worker it watches; a processing job that this worker has no run of (or a worker that does not answer) is an
orphan, and the table shows its lease counting down instead of a duration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from jobqueue.job import Job

# A claim reaches the table (Realtime) before it reaches the worker's /runs answer read a moment later; a job
# younger than this is not called orphaned yet.
CLAIM_GRACE = timedelta(seconds=2)


def lease_text(seconds_left: float) -> str:
    """The countdown an orphan shows: "lease expires in 24 s", then how long ago it ran out."""
    if seconds_left > 0:
        return f"lease expires in {math.ceil(seconds_left)} s"
    ago = math.floor(-seconds_left)
    when = "just now" if ago == 0 else f"{ago} s ago"
    return f"lease ran out {when}: the sweeper re-delivers it"


def _ran_here(job: Job, runs: Sequence[Mapping[str, Any]]) -> bool:
    return any(run.get("job_id") == job.job_id and run.get("attempt") == job.attempts for run in runs)


def orphaned(rows: Iterable[Job], leases: Mapping[str, datetime], runs: Sequence[Mapping[str, Any]] | None,
             checked_at: datetime) -> dict[str, datetime]:
    """Processing jobs whose worker is gone, each with the time its lease runs out.

    ``runs`` is what the watched worker's ``/runs`` answered at ``checked_at``, or None when it did not answer
    (then every processing job with a lease is orphaned). A job this worker ran (same attempt) is not.
    """
    found: dict[str, datetime] = {}
    for job in rows:
        expires = leases.get(job.job_id)
        if job.status != "processing" or expires is None or job.started_at is None:
            continue
        if runs is not None and (checked_at - job.started_at < CLAIM_GRACE or _ran_here(job, runs)):
            continue
        found[job.job_id] = expires
    return found
