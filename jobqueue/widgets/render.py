"""How a job row looks: one HTML line per row (so one row can change alone) and a plain-text table for logs."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from jobqueue.job import Job

COLUMNS = ("Job ID", "Name", "Status", "Result", "Attempts", "Age", "Duration")
_GRID = "display:grid;grid-template-columns:7em 14em 7em minmax(10em,1fr) 5em 5em 6em;column-gap:0.6em;" \
        "font-family:var(--jp-code-font-family,monospace);font-size:12px;padding:2px 4px;"
_STATUS_COLOURS = {"pending": "#8a6d00", "processing": "#0b5cad", "completed": "#1a7f37",
                   "failed": "#c62828"}
_TEXT_WIDTHS = (8, 24, 10, 40, 8, 8, 8)


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
    if row.result is None:
        return row.error or ""
    return row.result if isinstance(row.result, str) else json.dumps(row.result, separators=(",", ":"))


def _duration(row: Job, now: datetime) -> float | None:
    if row.started_at is None:
        return None
    return row.running_seconds if row.completed_at is not None else (now - row.started_at).total_seconds()


def row_cells(row: Job, now: datetime) -> tuple[str, ...]:
    """The row's cell texts in :data:`COLUMNS` order."""
    return (row.job_id[:8], row.task_name, row.status.capitalize(), _result_text(row), str(row.attempts),
            format_seconds(row.age_seconds(now)), format_seconds(_duration(row, now)))


def header_html() -> str:
    """The header line, laid out on the same grid as the rows."""
    cells = "".join(f"<div>{html.escape(name)}</div>" for name in COLUMNS)
    return f'<div class="jq-header" style="{_GRID}font-weight:bold;border-bottom:1px solid #999">{cells}</div>'


def row_html(row: Job, now: datetime) -> str:
    """One row as a self-contained HTML line; its status cell carries the status as a class for tests and CSS."""
    cells = row_cells(row, now)
    colour = _STATUS_COLOURS.get(row.status, "inherit")
    parts: list[str] = []
    for index, text in enumerate(cells):
        escaped = html.escape(text)
        if COLUMNS[index] == "Status":
            parts.append(f'<div class="jq-status jq-status-{html.escape(row.status)}" '
                         f'style="color:{colour};font-weight:bold">{escaped}</div>')
        else:
            parts.append(f'<div title="{escaped}" style="overflow:hidden;text-overflow:ellipsis;'
                         f'white-space:nowrap">{escaped}</div>')
    return (f'<div class="jq-row" data-job-id="{html.escape(row.job_id)}" style="{_GRID}">'
            f'{"".join(parts)}</div>')


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def text_table(rows: Iterable[Job], now: datetime) -> str:
    """A fixed-width text table of the rows (what ``make demo`` prints)."""
    lines = ["  ".join(name.ljust(width) for name, width in zip(COLUMNS, _TEXT_WIDTHS, strict=True))]
    lines.append("  ".join("-" * width for width in _TEXT_WIDTHS))
    for row in rows:
        cells = row_cells(row, now)
        lines.append("  ".join(_clip(cell, width).ljust(width)
                               for cell, width in zip(cells, _TEXT_WIDTHS, strict=True)).rstrip())
    return "\n".join(lines)


def connection_html(state: str, detail: Any = None) -> str:
    """The connection badge: Realtime channel state and what the table knows."""
    colour = {"SUBSCRIBED": "#1a7f37", "CONNECTING": "#8a6d00"}.get(state, "#c62828")
    extra = f" <span style='color:#666'>{html.escape(str(detail))}</span>" if detail else ""
    return (f'<div class="jq-connection">Realtime: <b class="jq-connection-state" style="color:{colour}">'
            f'{html.escape(state)}</b>{extra}</div>')
