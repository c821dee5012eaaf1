"""How a job row looks: one HTML line per row (so one row can change alone) and a plain-text table for logs.

The Progress column carries what the row is waiting for: a bar with the task's own message while it runs, the
countdown to ``run_after`` while a delayed job waits, and, for an orphan, when its lease runs out.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from jobqueue.job import Job
from jobqueue.widgets.leases import lease_text

COLUMNS = ("Job ID", "Type", "Name", "Pri", "Status", "Progress", "Result", "Tries", "Age", "Duration")
# Fixed columns for short values, shares of what is left for the texts: the grid always fits its box, and a text
# too long for its cell ends in "…" (its full value in the tooltip) instead of wrapping or widening the table.
_GRID = ("display:grid;grid-template-columns:5.2em 9.2em minmax(8em,2fr) 2.4em 6.4em minmax(7em,1fr) "
         "minmax(4.5em,1.2fr) 3.4em 3.8em 5.2em;column-gap:0.5em;width:100%;box-sizing:border-box;"
         "font-family:var(--jp-code-font-family,monospace);font-size:12px;padding:2px 4px;align-items:center;")
CANCEL_WIDTH = "72px"
# ipywidgets gives an HTML widget a fixed inline width and line height; a row's line takes what the row leaves.
_STYLE = """<style>
.jq-live-table .jq-line, .jq-live-table .jq-line > .widget-html-content {width:100%;min-width:0;overflow:hidden;
  line-height:normal;height:auto}
.jq-live-table .jq-rows {scrollbar-gutter:stable}
.jq-live-table .jq-header-box {position:sticky;top:0;z-index:1;background:var(--jp-layout-color0,white)}
.jq-live-table .jq-row-box, .jq-live-table .jq-header-box {margin:0;width:100%}
.jq-health table td, .jq-health table th {white-space:nowrap;padding:1px 6px}
</style>"""
_STATUS_COLOURS = {"pending": "#8a6d00", "processing": "#0b5cad", "completed": "#1a7f37",
                   "failed": "#c62828", "cancelled": "#6e6e6e"}
_TEXT_WIDTHS = (8, 15, 26, 4, 10, 36, 40, 6, 7, 8)
_CLIPPED = 'style="overflow:hidden;text-overflow:ellipsis;white-space:nowrap"'


def format_seconds(seconds: float | None) -> str:
    """Short human durations: 0.4s, 12s, 3m05s, 2h04m."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _result_text(row: Job) -> str:
    if row.status == "failed" and row.error:
        return row.error
    if row.result:
        return row.result
    if row.output is not None:
        return json.dumps(row.output, separators=(",", ":"))
    if row.status == "cancelled":
        return "cancelled by the operator"
    return row.error or ""


def _duration(row: Job, now: datetime) -> float | None:
    if row.started_at is None:
        return None
    return row.running_seconds if row.completed_at is not None else (now - row.started_at).total_seconds()


def _progress_text(row: Job, now: datetime, lease_expires: datetime | None) -> str:
    if lease_expires is not None:
        return "worker gone, " + lease_text((lease_expires - now).total_seconds())
    if row.status == "pending":
        if row.run_after is not None and row.run_after > now:
            return f"starts in {math.ceil((row.run_after - now).total_seconds())} s"
        return "queued" if row.attempts == 0 else f"retry {row.attempts + 1} queued"
    message = f" {row.progress_message}" if row.progress_message and not row.finished else ""
    return f"{row.progress}%{message}"


def _attempts(row: Job) -> str:
    return f"{row.attempts}/{row.max_attempts}" if row.max_attempts else str(row.attempts)


def row_cells(row: Job, now: datetime, lease_expires: datetime | None = None) -> tuple[str, ...]:
    """The row's cell texts in :data:`COLUMNS` order; ``lease_expires`` marks an orphan (its worker is gone)."""
    status = "Orphaned" if lease_expires is not None else row.status.capitalize()
    return (row.job_id[:8], row.job_type, row.task_name, str(row.priority), status,
            _progress_text(row, now, lease_expires), _result_text(row), _attempts(row),
            format_seconds(row.age_seconds(now)), format_seconds(_duration(row, now)))


def table_style() -> str:
    """The style sheet the live table carries (one ``<style>`` element, scoped to its classes)."""
    return _STYLE


def header_html() -> str:
    """The header line, laid out on the same grid as the rows."""
    cells = "".join(f'<div {_CLIPPED}>{html.escape(name)}</div>' for name in COLUMNS)
    return f'<div class="jq-header" style="{_GRID}font-weight:bold;border-bottom:1px solid #999">{cells}</div>'


def progress_html(row: Job, text: str, orphan: bool) -> str:
    """The Progress cell: a bar and its text; ``data-progress`` holds the value for tests and scripts."""
    classes = "jq-progress jq-orphan" if orphan else "jq-progress"
    bar = ""
    if not orphan and row.status != "pending":
        colour = _STATUS_COLOURS.get(row.status, "#2f7ed8") if row.finished else "#2f7ed8"
        bar = ('<span style="display:inline-block;width:4em;height:0.7em;background:#e3e3e3;border-radius:2px;'
               f'vertical-align:middle;margin-right:0.4em"><span style="display:block;width:{row.progress}%;'
               f'height:100%;background:{colour};border-radius:2px"></span></span>')
    style = "color:#c62828;" if orphan else ""
    return (f'<div class="{classes}" data-progress="{row.progress}" title="{html.escape(text)}" '
            f'style="{style}overflow:hidden;text-overflow:ellipsis;white-space:nowrap">{bar}{html.escape(text)}</div>')


def row_html(row: Job, now: datetime, lease_expires: datetime | None = None) -> str:
    """One row as a self-contained HTML line; its status cell carries the status as a class for tests and CSS."""
    cells = row_cells(row, now, lease_expires)
    colour = "#c62828" if lease_expires is not None else _STATUS_COLOURS.get(row.status, "inherit")
    parts: list[str] = []
    for name, text in zip(COLUMNS, cells, strict=True):
        escaped = html.escape(text)
        if name == "Status":
            parts.append(f'<div class="jq-status jq-status-{html.escape(row.status)}" '
                         f'style="color:{colour};font-weight:bold">{escaped}</div>')
        elif name == "Progress":
            parts.append(progress_html(row, text, lease_expires is not None))
        else:
            parts.append(f'<div title="{escaped}" {_CLIPPED}>{escaped}</div>')
    return (f'<div class="jq-row" data-job-id="{html.escape(row.job_id)}" style="{_GRID}">'
            f'{"".join(parts)}</div>')


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def text_table(rows: Iterable[Job], now: datetime, leases: Mapping[str, datetime] | None = None) -> str:
    """A fixed-width text table of the rows (what a headless run prints)."""
    leases = leases or {}
    lines = ["  ".join(name.ljust(width) for name, width in zip(COLUMNS, _TEXT_WIDTHS, strict=True))]
    lines.append("  ".join("-" * width for width in _TEXT_WIDTHS))
    for row in rows:
        cells = row_cells(row, now, leases.get(row.job_id))
        lines.append("  ".join(_clip(cell, width).ljust(width)
                               for cell, width in zip(cells, _TEXT_WIDTHS, strict=True)).rstrip())
    return "\n".join(lines)


def connection_html(state: str, detail: Any = None) -> str:
    """The connection badge: Realtime channel state and what the table knows."""
    colour = {"SUBSCRIBED": "#1a7f37", "CONNECTING": "#8a6d00"}.get(state, "#c62828")
    extra = f" <span style='color:#666'>{html.escape(str(detail))}</span>" if detail else ""
    return (f'<div class="jq-connection">Realtime: <b class="jq-connection-state" style="color:{colour}">'
            f'{html.escape(state)}</b> <span style="color:#666">(rows are pushed on every change of '
            f'job_results)</span>{extra}</div>')
