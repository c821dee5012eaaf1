"""What the job-model steps of notebook 02 point out, computed from the real rows: the order jobs started in
(priority), how close a delayed job started to its ``run_after``, the progress values seen live, a cancellation,
an idempotent resubmit, a failed job's retry back-off, how a lost job came back, and the ``job_stats`` view."""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jobqueue.job import Job, parse_timestamp

STATS_COLUMNS = ("job_type", "status", "jobs", "wait_p50_seconds", "wait_p95_seconds", "run_p50_seconds",
                 "run_p95_seconds", "failures", "retries")


def _clock(job: Job, attribute: str) -> str:
    moment = getattr(job, attribute)
    return moment.strftime("%H:%M:%S.%f")[:-3] if moment is not None else "-"


def started_in_order(jobs: Sequence[Job]) -> list[Job]:
    """The jobs that started, in the order they started."""
    return sorted((job for job in jobs if job.started_at is not None), key=lambda job: job.started_at)


def overtaken(job: Job, jobs: Sequence[Job]) -> list[Job]:
    """Jobs of lower priority, submitted before ``job``, that started after it: the ones it overtook."""
    if job.started_at is None or job.created_at is None:
        return []
    return [other for other in jobs if other.priority < job.priority and other.created_at is not None
            and other.created_at < job.created_at and other.started_at is not None
            and other.started_at > job.started_at]


def priority_notes(jobs: Sequence[Job]) -> list[str]:
    """The start order, and for each job that overtook others, how many."""
    order = ", ".join(f"{job.task_name} (p{job.priority})" for job in started_in_order(jobs))
    notes = [f"start order: {order}"]
    for job in jobs:
        passed = overtaken(job, jobs)
        if passed:
            notes.append(f"{job.task_name} (priority {job.priority}) was submitted after "
                         f"{len(passed)} lower-priority jobs still waiting, and started before them")
    return notes


def delay_note(job: Job) -> str:
    """How close a delayed job started to the time it was due."""
    if job.run_after is None or job.started_at is None or job.created_at is None:
        return f"{job.task_name}: no run_after/started_at yet"
    late = (job.started_at - job.run_after).total_seconds()
    asked = (job.run_after - job.created_at).total_seconds()
    return (f"{job.task_name}: submitted {_clock(job, 'created_at')}, run_after {_clock(job, 'run_after')} "
            f"({asked:.1f} s later), started {_clock(job, 'started_at')}: {late:+.2f} s from its run_after")


def progress_note(job: Job, seen: Sequence[int]) -> str:
    """The progress values Realtime delivered while the job ran."""
    values = " → ".join(f"{value}%" for value in seen) or "none"
    return f"{job.task_name}: progress seen live while processing: {values}; final status {job.status}"


def cancel_note(requested: Job, final: Job) -> str:
    """When the operator asked, how far the task had got, and how it ended."""
    message = f" ({final.progress_message})" if final.progress_message else ""
    return (f"{final.task_name}: cancel requested at {_clock(requested, 'cancelled_at')} while "
            f"{requested.status} at {requested.progress}%; ended {final.status} at {_clock(final, 'completed_at')}, "
            f"progress {final.progress}%{message}")


def idempotency_note(first: Job, second: Job, key: str) -> str:
    """Whether the second submit with the same key returned the same job."""
    same = "the same job" if first.job_id == second.job_id else "a DIFFERENT job"
    return (f"idempotency key {key!r}: first submit made job {first.job_id}, the second returned "
            f"{second.job_id}: {same}; nothing new was queued")


def recovery_note(job: Job, runs: Sequence[Mapping[str, Any]]) -> str:
    """Which path brought the job back, from the worker's own record (``source`` of its run)."""
    mine = [run for run in runs if run.get("job_id") == job.job_id]
    if not mine:
        return f"{job.task_name}: no run of it in the worker's /runs"
    source = mine[0].get("source")
    path = {"webhook": "a webhook: the sweeper re-delivered the message",
            "pull": "the worker's pull loop (get_next_job), after no webhook came for a while"}.get(str(source),
                                                                                                str(source))
    return f"{job.task_name}: attempt {mine[0].get('attempt')} came by {path}; it ended {job.status}"


def backoff_rows(job: Job, runs: Sequence[Mapping[str, Any]],
                 worker_settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each retry of ``job`` as the worker ran it: when the attempt before ended, when this one started, the wait
    between them, and the range the back-off rule allows (base * 2^(n-1), capped, times 50-100 % jitter, rounded
    up to whole seconds) with the running worker's ``retry_base_seconds`` and ``retry_max_seconds``."""
    mine = sorted((run for run in runs if run.get("job_id") == job.job_id), key=lambda run: run.get("attempt") or 0)
    known = "retry_base_seconds" in worker_settings and "retry_max_seconds" in worker_settings
    base = float(worker_settings.get("retry_base_seconds") or 0)
    cap = float(worker_settings.get("retry_max_seconds") or 0)
    rows = []
    for before, after in itertools.pairwise(mine):
        ended = _run_start(before) + timedelta(seconds=float(before.get("duration_seconds") or 0))
        ceiling = min(cap, base * 2 ** max(int(before.get("attempt") or 1) - 1, 0))
        rows.append({"retry": f"attempt {after.get('attempt')}", "previous ended": ended.strftime("%H:%M:%S.%f")[:-3],
                     "started": _run_start(after).strftime("%H:%M:%S.%f")[:-3],
                     "waited_s": round((_run_start(after) - ended).total_seconds(), 2),
                     "rule allows_s": f"{math.ceil(ceiling * 0.5)}-{math.ceil(ceiling)}" if known
                     else "(the worker does not report its settings)"})
    return rows


def _run_start(run: Mapping[str, Any]) -> datetime:
    started = parse_timestamp(run.get("started_at"))
    if started is None:
        raise ValueError(f"a run without started_at: {run}")
    return started


@dataclass(frozen=True)
class StatsTable:
    """The ``job_stats`` view as a small static table."""

    rows: Sequence[Mapping[str, Any]]

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{name}</th>" for name in STATS_COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(row.get(name, '')))}</td>" for name in STATS_COLUMNS)
                       + "</tr>" for row in self.rows)
        return f"<table class='jq-stats'><tr>{head}</tr>{body}</table>"

    def __repr__(self) -> str:
        return "\n".join("  ".join(f"{name}={row.get(name)}" for name in STATS_COLUMNS) for row in self.rows)
