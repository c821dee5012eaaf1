"""What a step showed, kept: a static copy of its rows, queue metrics and worker runs at one moment.

The live dashboard is displayed once and keeps changing; a step ends with a snapshot (plain HTML, with a text
form for logs), so scrolling back through the notebook still tells each step's story.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobqueue.job import Job
from jobqueue.widgets.health import QueueMetrics, metrics_html, runs_html
from jobqueue.widgets.render import header_html, row_html, text_table


def worker_settings_text(healthz: Mapping[str, Any] | None) -> str:
    """The settings the running worker reports in ``/healthz`` (not what the notebook asked for)."""
    if healthz is None:
        return "worker: did not answer /healthz"
    settings = healthz.get("settings")
    if not isinstance(settings, Mapping):
        return f"worker pid {healthz.get('pid')}: its /healthz does not report its settings (an older worker)"
    way = "pulls jobs (get_next_job)" if settings.get("pull") else "takes webhooks"
    return (f"worker pid {healthz.get('pid')} (its /healthz): {way}, concurrency {settings.get('concurrency')}, "
            f"lease {settings.get('lease_seconds')} s, jobs of {settings.get('job_min_seconds')}-"
            f"{settings.get('job_max_seconds')} s, {settings.get('max_attempts')} attempts, retries after "
            f"{settings.get('retry_base_seconds')} s doubling up to {settings.get('retry_max_seconds')} s, "
            f"backlog up to {settings.get('max_backlog')}")


@dataclass(frozen=True, repr=False)
class Snapshot:
    """A step's rows and the queue's state at ``taken_at``, with a few lines saying what they show."""

    step: str
    title: str
    taken_at: datetime
    rows: Sequence[Job]
    orphans: Mapping[str, datetime] = field(default_factory=dict)
    metrics: Sequence[QueueMetrics] = ()
    runs: Sequence[Mapping[str, Any]] | None = ()
    notes: Sequence[str] = ()
    worker: Mapping[str, Any] | None = None

    def row(self, name: str) -> Job:
        """The row of the job called ``name`` (the newest if several)."""
        return next(row for row in self.rows if row.task_name == name)

    def _repr_html_(self) -> str:
        rows = "".join(row_html(row, self.taken_at, self.orphans.get(row.job_id)) for row in self.rows)
        items = "".join(f"<li>{html.escape(note)}</li>" for note in [*self.notes, worker_settings_text(self.worker)])
        notes = f"<ul style='margin:4px 0'>{items}</ul>" if items else ""
        runs = ("<span style='color:#c62828'>the worker did not answer</span>" if self.runs is None
                else runs_html(list(self.runs)))
        return (f'<div class="jq-snapshot" data-step="{html.escape(self.step)}" '
                'style="border-left:3px solid #999;padding:4px 8px;margin:4px 0">'
                f'<div><b>{html.escape(self.title)}</b> <span style="color:#666;font-size:11px">snapshot at '
                f'{self.taken_at:%H:%M:%S} (static: the live dashboard is at the top)</span></div>'
                f'{header_html()}{rows}{notes}'
                '<div style="display:flex;gap:2em;font-size:12px;margin-top:4px">'
                f'<div><b>Queues</b>{metrics_html(list(self.metrics))}</div>'
                f'<div><b>Worker runs of these jobs</b>{runs}</div></div></div>')

    def __repr__(self) -> str:
        lines = [f"{self.title} (snapshot at {self.taken_at:%H:%M:%S})",
                 text_table(self.rows, self.taken_at, self.orphans), *self.notes, worker_settings_text(self.worker)]
        lines += [f"{m.queue_name}: depth {m.queue_length}, sent in total {m.total_messages}" for m in self.metrics]
        return "\n".join(lines)
