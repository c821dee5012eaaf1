"""Step 3: queue metrics, live. Once a second one query asks ``pgmq.metrics`` about the lab's queues and their
DLQs only (``pgmq.metrics_all()`` would count every queue of the database each second): depth, age of the oldest
message, sent and drained per second, and a sparkline of the last minute's depth."""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from collections import deque
from dataclasses import dataclass

import ipywidgets as widgets
import psycopg

from jobqueue.lab import queries
from jobqueue.settings import Settings

HISTORY = 60
QUEUES = (*queries.LAB_QUEUES, *(f"{queue}_dlq" for queue in queries.LAB_QUEUES))


@dataclass(frozen=True)
class Sample:
    """One reading of one queue."""

    at: float
    depth: int
    oldest_age: int
    total: int


def _rate(history: deque[Sample], drained: bool) -> float:
    if len(history) < 2:
        return 0.0
    first, last = history[-2], history[-1]
    done = (last.total - last.depth) - (first.total - first.depth) if drained else last.total - first.total
    return done / max(last.at - first.at, 1e-6)


def _sparkline(history: deque[Sample], width: int = 180, height: int = 28) -> str:
    depths = [s.depth for s in history]
    top = max([*depths, 1])
    step = width / max(HISTORY - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - d * (height - 2) / top - 1:.1f}" for i, d in enumerate(depths))
    return (f'<svg width="{width}" height="{height}"><polyline fill="none" stroke="#d6336c" stroke-width="1.5" '
            f'points="{points}"/></svg>')


class MetricsPanel:
    """The live panel: ``await panel.start()``, display ``panel.widget``, ``await panel.stop()``."""

    def __init__(self, settings: Settings, every: float = 1.0) -> None:
        self._settings = settings
        self._every = every
        self.history: dict[str, deque[Sample]] = {queue: deque(maxlen=HISTORY) for queue in QUEUES}
        self.widget = widgets.HTML()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> MetricsPanel:
        """Open one connection and start reading every ``every`` seconds."""
        conn = await psycopg.AsyncConnection.connect(self._settings.db_url, autocommit=True)
        await self.read(conn)
        self._task = asyncio.get_running_loop().create_task(self._run(conn))
        return self

    async def read(self, conn: psycopg.AsyncConnection) -> None:
        """One reading of every queue, then the panel redrawn."""
        cur = await conn.execute(queries.METRICS, {"queues": list(QUEUES)})
        now = time.monotonic()
        for name, depth, oldest, total in await cur.fetchall():
            self.history[name].append(Sample(now, depth, int(oldest), total))
        self.widget.value = self.html()

    async def _run(self, conn: psycopg.AsyncConnection) -> None:
        try:
            while True:
                await asyncio.sleep(self._every)
                await self.read(conn)
        finally:
            await conn.close()

    def html(self) -> str:
        """The panel as HTML: one row per queue."""
        head = "".join(f"<th style='text-align:right;padding:0 8px'>{h}</th>"
                       for h in ("queue", "depth", "oldest, s", "sent/s", "drained/s", "depth, last minute"))
        body = []
        for queue, history in self.history.items():
            if not history:
                continue
            last = history[-1]
            cells = (html.escape(queue), f"{last.depth:,}", f"{last.oldest_age:,}", f"{_rate(history, False):,.1f}",
                     f"{_rate(history, True):,.1f}")
            body.append("<tr>" + "".join(f"<td style='text-align:right;padding:0 8px'>{c}</td>" for c in cells)
                        + f"<td>{_sparkline(history)}</td></tr>")
        return f"<table class='jq-lab-metrics'><tr>{head}</tr>{''.join(body)}</table>"

    def text(self) -> str:
        """The latest reading as plain text (depth and oldest age per queue)."""
        return "\n".join(f"{queue:<18} depth {h[-1].depth:>6,}  oldest {h[-1].oldest_age:>4} s"
                         for queue, h in self.history.items() if h)

    async def stop(self) -> None:
        """Stop reading and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
