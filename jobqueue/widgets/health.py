"""Queue health beside the job table: ``pgmq.metrics`` of the work queue and its dead-letter queue, the leases
of claimed messages, and the worker's recent runs from its ``/runs`` endpoint, **polled** every second until
stopped (the job rows themselves are pushed by Realtime; none of these can be).

The metrics and leases are read with psycopg over ``SUPABASE_DB_URL`` (the direct connection string): that works
the same on hosted Supabase, where ``pgmq_public`` exposes no metrics function over REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import ipywidgets as widgets
import psycopg
import structlog
from psycopg.rows import dict_row

from jobqueue import queries
from jobqueue.widgets.render import format_seconds

log = structlog.get_logger(__name__)

QUEUES = ("work_queue", "work_queue_dlq")
RUNS_SCANNED = 200  # runs read to tell this worker's jobs from orphans; the panel shows fewer


@dataclass(frozen=True)
class QueueMetrics:
    """One queue's depth and the age of its oldest message, as ``pgmq.metrics`` reports them."""

    queue_name: str
    queue_length: int
    oldest_msg_age_sec: int | None
    newest_msg_age_sec: int | None
    total_messages: int


async def read_metrics(conn: psycopg.AsyncConnection[Any], queues: Sequence[str] = QUEUES) -> list[QueueMetrics]:
    """``pgmq.metrics`` for each queue, in the order given."""
    found: list[QueueMetrics] = []
    async with conn.cursor(row_factory=dict_row) as cur:
        for queue in queues:
            await cur.execute(queries.QUEUE_METRICS, {"queue": queue})
            row = await cur.fetchone()
            if row is not None:
                found.append(QueueMetrics(**row))
    return found


async def read_leases(conn: psycopg.AsyncConnection[Any]) -> dict[str, datetime]:
    """When each claimed message's lease runs out, by job id (as a time on this machine's clock)."""
    now = datetime.now(UTC)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.CLAIMED_LEASES)
        return {row["job_id"]: now + timedelta(seconds=row["left_s"]) for row in await cur.fetchall()}


async def read_worker(http: httpx.AsyncClient, worker_url: str) -> dict[str, Any]:
    """The worker's ``GET /healthz`` answer: its pid, load, and (newer workers) ``task_types`` and ``settings``."""
    response = await http.get(f"{worker_url}/healthz")
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"/healthz answered {body!r}, not an object")
    return body


async def read_runs(http: httpx.AsyncClient, runs_url: str, limit: int) -> list[dict[str, Any]]:
    """The worker's newest runs from ``GET /runs`` (a list, or an object holding ``runs``)."""
    response = await http.get(runs_url, params={"limit": limit})
    response.raise_for_status()
    body = response.json()
    runs = body.get("runs", []) if isinstance(body, dict) else body
    return list(runs)[:limit]


def metrics_html(metrics: Sequence[QueueMetrics]) -> str:
    """A small table: queue, depth, oldest message age, messages ever sent."""
    rows = "".join(
        f"<tr><td>{html.escape(m.queue_name)}</td><td class='jq-depth'>{m.queue_length}</td>"
        f"<td>{format_seconds(m.oldest_msg_age_sec)}</td><td>{m.total_messages}</td></tr>" for m in metrics)
    return ("<table class='jq-metrics'><tr><th>queue</th><th>depth</th><th>oldest message</th>"
            f"<th>sent in total</th></tr>{rows}</table>")


def _clipped_cell(value: Any, width: int) -> str:
    """A cell of at most ``width`` characters on one line; the whole text in its tooltip."""
    text = str(value or "")
    shown = text if len(text) <= width else text[: width - 1] + "…"
    return f'<td title="{html.escape(text)}">{html.escape(shown)}</td>'


def runs_html(runs: Sequence[dict[str, Any]]) -> str:
    """The worker's recent runs: job, attempt, how it arrived (webhook or pull), outcome, duration."""
    if not runs:
        return "<i>no runs yet</i>"
    rows = "".join(
        f"<tr>{_clipped_cell(run.get('task_name'), 24)}<td>{run.get('attempt', '')}</td>"
        f"<td class='jq-source'>{html.escape(str(run.get('source', '')))}</td>"
        f"<td>{html.escape(str(run.get('outcome', '')))}</td><td>{format_seconds(run.get('duration_seconds'))}"
        f"</td>{_clipped_cell(run.get('error'), 32)}</tr>" for run in runs)
    return ("<table class='jq-runs'><tr><th>job</th><th>attempt</th><th>via</th><th>outcome</th><th>took</th>"
            f"<th>error</th></tr>{rows}</table>")


class QueueHealth:
    """A widget with queue metrics and worker runs, polled every ``interval`` seconds while started.

    ``runs`` and ``worker`` (its ``/healthz``) are None while the worker does not answer. ``on_refresh`` is called
    after every reading (the dashboard uses it to mark orphaned jobs in the table).
    """

    def __init__(self, db_url: str, worker_url: str | None, interval: float = 1.0, runs_limit: int = 8,
                 queues: Sequence[str] = QUEUES, on_refresh: Callable[[QueueHealth], None] | None = None) -> None:
        self._db_url = db_url
        self._worker_url = worker_url
        self._interval = interval
        self._runs_limit = runs_limit
        self._queues = tuple(queues)
        self._on_refresh = on_refresh
        self._task: asyncio.Task[None] | None = None
        self.metrics: list[QueueMetrics] = []
        self.leases: dict[str, datetime] = {}
        self.runs: list[dict[str, Any]] | None = None
        self.worker: dict[str, Any] | None = None
        self.checked_at = datetime.now(UTC)
        self._metrics = widgets.HTML("<i>reading pgmq.metrics…</i>")
        self._runs = widgets.HTML("<i>reading the worker's runs…</i>")
        every = f"polled every {interval:g} s"
        self.widget = widgets.HBox([
            widgets.VBox([widgets.HTML(f"<b>Queues</b> (pgmq.metrics, {every})"), self._metrics],
                         layout=widgets.Layout(margin="0 2em 0 0", flex="0 0 auto")),
            widgets.VBox([widgets.HTML(f"<b>Worker runs</b> (GET /runs, {every})"), self._runs],
                         layout=widgets.Layout(flex="0 1 auto", min_width="0"))],
            layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start", width="100%"))
        self.widget.add_class("jq-health")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    async def refresh(self, conn: psycopg.AsyncConnection[Any], http: httpx.AsyncClient) -> None:
        """Read every source once and show it; a source that fails shows its error instead."""
        try:
            self.metrics = await read_metrics(conn, self._queues)
            self.leases = await read_leases(conn)
            self._metrics.value = metrics_html(self.metrics)
        except psycopg.Error as err:
            self._metrics.value = f"<span style='color:#c62828'>{html.escape(str(err))}</span>"
            log.warning("health.metrics_failed", error=str(err))
        self.checked_at = datetime.now(UTC)
        if self._worker_url is None:
            self._runs.value = "<i>no worker URL configured</i>"
        else:
            try:
                self.runs = await read_runs(http, f"{self._worker_url}/runs", RUNS_SCANNED)
                self.worker = await read_worker(http, self._worker_url)
                self._runs.value = runs_html(self.runs[: self._runs_limit])
            except (httpx.HTTPError, ValueError) as err:
                self.runs = self.worker = None
                self._runs.value = ("<span class='jq-worker-down' style='color:#c62828'>worker not reachable: "
                                    f"{html.escape(str(err))}</span>")
        if self._on_refresh is not None:
            self._on_refresh(self)

    def start(self) -> QueueHealth:
        """Begin refreshing on the kernel's loop; returns at once."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def stop(self) -> None:
        """Stop refreshing; the last values stay on screen."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh_once(self) -> None:
        """Read both sources now on fresh connections (a step's cell calls this so its result is saved)."""
        async with self._sources() as (conn, http):
            await self.refresh(conn, http)

    @contextlib.asynccontextmanager
    async def _sources(self) -> AsyncIterator[tuple[psycopg.AsyncConnection[Any], httpx.AsyncClient]]:
        async with await psycopg.AsyncConnection.connect(self._db_url, autocommit=True) as conn, \
                httpx.AsyncClient(timeout=2.0) as http:
            yield conn, http

    async def _run(self) -> None:
        """Poll until stopped; a reading that fails in an unforeseen way is logged and shown, and polling goes on
        (on fresh connections), so the panel never freezes silently."""
        while True:
            try:
                async with self._sources() as (conn, http):
                    while True:
                        await self.refresh(conn, http)
                        await asyncio.sleep(self._interval)
            except Exception as err:
                log.exception("health.refresh_failed")
                self._metrics.value = (f"<span style='color:#c62828'>reading failed ({html.escape(str(err))}); "
                                       f"trying again in {self._interval:g} s</span>")
                await asyncio.sleep(self._interval)
