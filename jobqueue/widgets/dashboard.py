"""The notebook's dashboard: the job form, the live job table and queue health, wired together.

It is displayed once. Jobs are submitted with the anon key (as a browser would); the operator's Cancel buttons
use a service-role client, which the anon key cannot replace. A submitted job goes into the table at once from
the RPC's answer (pending), then Realtime moves it along. The rows live in one :class:`JobFeed`; the table only
renders it. Steps of the notebook wait on the feed (saying what for) and end with a static :class:`Snapshot`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ipywidgets as widgets
import structlog
from supabase import AsyncClient

from jobqueue.feed import JobFeed
from jobqueue.job import TERMINAL_STATUSES, Job
from jobqueue.jobs_async import cancel_job, enqueue_job, job_types, jobs_topic, service_client, visitor_client
from jobqueue.settings import Settings
from jobqueue.widgets.form import JobForm, validate_job_name
from jobqueue.widgets.health import QueueHealth
from jobqueue.widgets.leases import orphaned
from jobqueue.widgets.live_table import LiveJobTable
from jobqueue.widgets.snapshot import Snapshot
from jobqueue.widgets.waiting import WaitLine
from jobqueue.worker_process import WorkerProcess
from worker.tasks.registry import DEFAULT_JOB_TYPE

log = structlog.get_logger(__name__)

WAIT_REDRAW_SECONDS = 0.5
TYPES_REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class JobSpec:
    """One job a step submits: its name, type and payload, and the options ``submit_job`` takes."""

    name: str
    job_type: str = DEFAULT_JOB_TYPE
    payload: Mapping[str, Any] | None = None
    priority: int | None = None
    delay: float | None = None
    idempotency_key: str | None = None
    timeout: float | None = None
    max_attempts: int | None = None


def _spec(item: str | JobSpec) -> JobSpec:
    return item if isinstance(item, JobSpec) else JobSpec(item)


def describe(jobs: Sequence[Job]) -> str:
    """A short name for a set of jobs: ``hello-queue`` or ``6 jobs (burst-00 … burst-05)``."""
    if len(jobs) == 1:
        return jobs[0].task_name
    return f"{len(jobs)} jobs ({jobs[0].task_name} … {jobs[-1].task_name})" if jobs else "no jobs"


class Dashboard:
    """Form + live table + queue health over async Supabase clients."""

    def __init__(self, client: AsyncClient, operator: AsyncClient, table: LiveJobTable, health: QueueHealth,
                 form: JobForm) -> None:
        self.client = client
        self.operator = operator
        self.table = table
        self.feed = table.feed
        self.health = health
        self.form = form
        self.job_ids: list[str] = []
        self._types_task: asyncio.Future[None] | concurrent.futures.Future[None] | None = None
        form.on_submitted(self._track)
        self.widget = widgets.VBox([
            form.widget,
            # The table takes the cell's whole width (beside it, the panel would squeeze its columns); the panel
            # sits below it.
            table.widget,
            health.widget,
        ])
        self.widget.add_class("jq-dashboard")

    @classmethod
    async def open(cls, settings: Settings, worker: WorkerProcess | None, max_rows: int = 50,
                   health_interval: float = 1.0) -> Dashboard:
        """Connect (the person signed in anonymously, the service role for the operator's cancel), subscribe the
        table to the person's private topic ``jobs:<user id>``, start polling the queue metrics and the worker's
        runs."""
        client = await visitor_client(settings)
        operator = await service_client(settings)
        feed = JobFeed(client, max_rows=max_rows, topic=await jobs_topic(client))
        table = await LiveJobTable(feed, cancel=functools.partial(cancel_job, operator)).start()
        form = JobForm(await job_types(client), submit=functools.partial(enqueue_job, client), owner=feed.owner)
        worker_url = worker.url if worker is not None else None
        health = QueueHealth(settings.db_url, worker_url, interval=health_interval,
                             on_refresh=functools.partial(_health_read, table, form)).start()
        log.info("dashboard.opened", url=settings.supabase_url, rows=len(feed.model))
        dashboard = cls(client, operator, table, health, form)
        dashboard._types_task = feed.owner.spawn(dashboard._follow_types())
        return dashboard

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _track(self, job: Job) -> None:
        self.feed.apply(job)
        if job.job_id not in self.job_ids:
            self.job_ids.append(job.job_id)

    async def submit(self, specs: Sequence[str | JobSpec]) -> list[Job]:
        """Submit jobs (each through ``submit_job``, as the signed-in person) and show them as pending at once."""
        jobs = []
        for spec in map(_spec, specs):
            job = await enqueue_job(self.client, spec.job_type, spec.payload, task_name=validate_job_name(spec.name),
                                    priority=spec.priority, delay=spec.delay, idempotency_key=spec.idempotency_key,
                                    timeout=spec.timeout, max_attempts=spec.max_attempts)
            self._track(job)
            jobs.append(job)
        return jobs

    async def cancel(self, job: Job) -> Job:
        """The operator's cancel (service role): a pending job ends at once, a running one is stopped."""
        cancelled = await cancel_job(self.operator, job.job_id)
        self.feed.apply(cancelled)
        return cancelled

    def current(self, jobs: Sequence[Job]) -> list[Job]:
        """The newest state the table holds of each job."""
        return [self.feed.get(job.job_id) or job for job in jobs]

    async def wait(self, jobs: Sequence[Job], what: str | None = None, timeout: float = 120.0,
                   statuses: Collection[str] = TERMINAL_STATUSES) -> list[Job]:
        """Wait, on Realtime events, until every job reaches one of ``statuses``; a line in the cell's output
        says what is awaited, how many are done and how long it has taken."""
        line = WaitLine(what or describe(jobs), len(jobs))
        began = time.monotonic()
        waiting = asyncio.ensure_future(self.feed.wait_for([job.job_id for job in jobs], statuses, timeout))
        try:
            while not waiting.done():
                line.show(*self._count(jobs, statuses), time.monotonic() - began)
                await asyncio.wait({waiting}, timeout=WAIT_REDRAW_SECONDS)
            finished = waiting.result()
        except BaseException as err:
            waiting.cancel()
            line.gave_up(str(err) or type(err).__name__)
            raise
        line.show(*self._count(jobs, statuses), time.monotonic() - began, finished=True)
        return finished

    def _count(self, jobs: Sequence[Job], statuses: Collection[str]) -> tuple[int, Counter[str]]:
        current = self.current(jobs)
        return sum(job.status in statuses for job in current), Counter(job.status for job in current)

    async def run(self, specs: Sequence[str | JobSpec], what: str | None = None,
                  timeout: float = 120.0) -> list[Job]:
        """Submit jobs and wait until each has finished."""
        return await self.wait(await self.submit(specs), what, timeout)

    async def snapshot(self, step: str, title: str, jobs: Sequence[Job], notes: Sequence[str] = ()) -> Snapshot:
        """A static copy of these jobs' rows and of the queue and worker as they are now."""
        await self.health.refresh_once()
        rows = self.current(jobs)
        ids = {job.job_id for job in rows}
        runs = None if self.health.runs is None else [run for run in self.health.runs if run.get("job_id") in ids]
        return Snapshot(step, title, datetime.now(UTC), rows,
                        {job_id: at for job_id, at in self.table.orphans.items() if job_id in ids},
                        list(self.health.metrics), runs, list(notes), self.health.worker)

    def session_rows(self) -> list[Job]:
        """The jobs submitted through this dashboard (steps and form), newest first."""
        rows = [row for job_id in self.job_ids if (row := self.feed.get(job_id)) is not None]
        return rows[::-1]

    def session_text(self) -> str:
        """The jobs of this session as fixed-width text."""
        return self.table.to_text(self.session_rows())

    async def _follow_types(self) -> None:
        """Re-read ``job_types`` now and then, so a type provisioned while the form is open is offered."""
        while True:
            await asyncio.sleep(TYPES_REFRESH_SECONDS)
            try:
                self.form.set_types(await job_types(self.client))
            except Exception as err:
                log.warning("dashboard.types_refresh_failed", error=str(err))

    async def close(self) -> None:
        """Stop the polling and leave the Realtime channel."""
        if self._types_task is not None:
            self._types_task.cancel()
        await asyncio.gather(self.health.stop(), self.table.stop())


def _health_read(table: LiveJobTable, form: JobForm, health: QueueHealth) -> None:
    """After each reading of the panel: mark orphaned jobs, and name types no running worker serves."""
    table.set_orphans(orphaned(table.feed.rows(), health.leases, health.runs, health.checked_at))
    worker = health.worker or {}
    served = worker.get("task_types")
    form.set_served(served if isinstance(served, list) else None, f"the running worker (pid {worker.get('pid')})")
