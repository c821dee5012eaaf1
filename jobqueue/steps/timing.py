"""Where the time went: per job, waiting in the queue (created→started) and running (started→completed).

Waiting is the queue's share (trigger, pg_net, the worker's concurrency limit); running is the job's own work.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from jobqueue.job import Job

PHASES = ("waiting", "running", "total")


@dataclass(frozen=True)
class Spread:
    """Summary of one phase over a set of jobs, in seconds."""

    count: int
    p50: float
    p95: float
    max: float


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1); NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _timed(rows: Iterable[Job]) -> list[Job]:
    """Jobs that ran to the end, oldest first (jobs still queued or running have no full timing yet)."""
    done = [row for row in rows if row.total_seconds is not None and row.waiting_seconds is not None]
    return sorted(done, key=lambda row: row.created_at.timestamp() if row.created_at else 0.0)


def timing_summary(rows: Iterable[Job]) -> dict[str, Spread]:
    """p50, p95 and max of waiting, running and total time over the finished jobs."""
    timed = _timed(rows)
    summary: dict[str, Spread] = {}
    for phase in PHASES:
        values = [float(getattr(row, f"{phase}_seconds")) for row in timed]
        summary[phase] = Spread(len(values), percentile(values, 0.5), percentile(values, 0.95),
                                max(values) if values else math.nan)
    return summary


def summary_text(summary: dict[str, Spread]) -> str:
    """The summary as a few aligned lines."""
    lines = [f"{'phase':<8} {'jobs':>5} {'p50':>8} {'p95':>8} {'max':>8}"]
    for phase, spread in summary.items():
        lines.append(f"{phase:<8} {spread.count:>5} {spread.p50:>7.2f}s {spread.p95:>7.2f}s {spread.max:>7.2f}s")
    return "\n".join(lines)


def timing_chart(rows: Iterable[Job], title: str = "Where each job's time went") -> Figure:
    """A horizontal bar per job: waiting then running, stacked, so the bar's length is the total."""
    timed = _timed(rows)
    figure = Figure(figsize=(9, max(2.5, 0.28 * len(timed) + 1.2)), layout="constrained")
    axes = figure.subplots()
    labels = [f"{row.task_name[:20]} ({row.job_id[:4]})" for row in timed]
    waiting = [row.waiting_seconds or 0.0 for row in timed]
    running = [row.running_seconds or 0.0 for row in timed]
    positions = range(len(timed))
    axes.barh(positions, waiting, color="#f2a93b", label="waiting (created → started)")
    axes.barh(positions, running, left=waiting, color="#2f7ed8", label="running (started → completed)")
    for position, row in zip(positions, timed, strict=True):
        axes.text((row.total_seconds or 0.0), position, f" {row.total_seconds:.2f}s", va="center", fontsize=8)
    axes.set_yticks(list(positions), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the job was submitted")
    axes.set_title(title)
    # Above the axes, outside them: a legend inside would hide whichever bars sit under it.
    figure.legend(loc="outside upper center", ncols=2, fontsize=8, frameon=False)
    return figure


def show_timing(rows: Iterable[Job]) -> None:
    """Display the chart and the p50/p95/max numbers in the notebook."""
    from IPython.display import Image, display

    rows = list(rows)
    buffer = io.BytesIO()
    timing_chart(rows).savefig(buffer, format="png", dpi=90)
    display(Image(buffer.getvalue()))
    print(summary_text(timing_summary(rows)))
