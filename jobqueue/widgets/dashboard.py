"""The notebook's dashboard: the job form, the live job table and queue health, wired together.

A submitted job goes into the table at once from the RPC's answer (pending), then Realtime moves it along.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

import ipywidgets as widgets
import structlog
from supabase import AsyncClient, acreate_client

from jobqueue.job import TERMINAL_STATUSES, Job
from jobqueue.settings import Settings
from jobqueue.widgets.form import JobForm, submit_job, validate_job_name
from jobqueue.widgets.health import QueueHealth
from jobqueue.widgets.live_table import LiveJobTable
from jobqueue.worker_process import WorkerProcess

log = structlog.get_logger(__name__)


class Dashboard:
    """Form + live table + queue health over one async Supabase client (the anon key, as a browser would use)."""

    def __init__(self, client: AsyncClient, table: LiveJobTable, health: QueueHealth) -> None:
        self.client = client
        self.table = table
        self.health = health
        self.form = JobForm(client, on_submitted=table.apply)
        self.widget = widgets.VBox([
            self.form.widget,
            widgets.HBox([table.widget, health.widget], layout=widgets.Layout(align_items="flex-start")),
        ])

    @classmethod
    async def open(cls, settings: Settings, worker: WorkerProcess | None, max_rows: int = 50,
                   health_interval: float = 1.0) -> Dashboard:
        """Connect with the anon key, subscribe the table (it re-reads recent rows), start the health timer."""
        client = await acreate_client(settings.supabase_url, settings.anon_key)
        table = await LiveJobTable(client, max_rows=max_rows).start()
        runs_url = f"{worker.url}/runs" if worker is not None else None
        health = QueueHealth(settings.db_url, runs_url, interval=health_interval).start()
        log.info("dashboard.opened", url=settings.supabase_url, rows=len(table.model))
        return cls(client, table, health)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    async def submit(self, names: Sequence[str]) -> list[dict[str, object]]:
        """Submit jobs by name (each through ``submit_job``) and show them as pending at once."""
        rows = []
        for name in names:
            row = await submit_job(self.client, validate_job_name(name))
            self.table.apply(row)
            rows.append(row)
        return rows

    async def run(self, names: Sequence[str], timeout: float = 120.0,
                  statuses: Collection[str] = TERMINAL_STATUSES) -> list[Job]:
        """Submit jobs and wait, on Realtime events, until each has finished."""
        rows = await self.submit(names)
        return await self.table.wait_for([str(row["job_id"]) for row in rows], statuses, timeout)

    async def close(self) -> None:
        """Stop the health timer and leave the Realtime channel."""
        await asyncio.gather(self.health.stop(), self.table.stop())
