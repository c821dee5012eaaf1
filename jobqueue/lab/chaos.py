"""Step 5: chaos for notebook 02's jobs. Worker processes (``--processes``), job duration and failure rate
(``flaky`` jobs) to choose, a **Kill a worker** button (SIGKILL to one of the supervisor's children), and live
throughput, p50/p95 latency (submit → completed) and the count of every job: nothing lost.

A killed worker's running jobs keep their leases (5 s here) until they run out; the sweeper (every 10 s) then
delivers them again, and the supervisor has already started a new child. Deliveries it had accepted but not yet
started come back once the sweeper's quiet period (30 s) has passed. Failed attempts are retried; a job that fails
all its attempts ends ``failed`` in the dead-letter queue, which counts as accounted for, not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import statistics
from collections.abc import Callable
from urllib.parse import urlparse

import ipywidgets as widgets
import psutil
import psycopg
from postgrest.exceptions import APIError
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from jobqueue.job_requests import QUEUE_FULL
from jobqueue.lab.pacing import at_slider_rate
from jobqueue.settings import Settings, configured, local_stack_dir
from jobqueue.steps.walkthrough import stop_recorded_worker
from jobqueue.worker_process import DEFAULT_PORT, WorkerProcess, start_worker, worker_env

STATUS = """
select count(*) filter (where status = 'completed') as completed, count(*) filter (where status = 'failed') as failed,
       count(*) filter (where status in ('pending', 'processing')) as in_flight,
       count(*) filter (where status = 'completed' and completed_at > now() - interval '5 seconds') as recent,
       coalesce(array_agg(extract(epoch from completed_at - created_at)) filter (
         where status = 'completed' and completed_at > now() - interval '30 seconds'), '{}') as latencies
from public.job_results where job_id = any(%(ids)s::uuid[])"""
CHAOS_ENV = {"WORKER_LEASE_SECONDS": "5", "MAX_ATTEMPTS": "3", "WORKER_RETRY_BASE_SECONDS": "0.2",
             "WORKER_RETRY_MAX_SECONDS": "1"}


@dataclasses.dataclass
class Counts:
    """Where the panel's jobs are."""

    submitted: int = 0
    completed: int = 0
    failed: int = 0
    in_flight: int = 0
    per_second: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0

    @property
    def unaccounted(self) -> int:
        """Jobs with no row at all: always 0, since a job's row and message are written in one transaction."""
        return self.submitted - self.completed - self.failed - self.in_flight

    def text(self) -> str:
        """One line: the count of every job and the live figures."""
        return (f"submitted {self.submitted} = completed {self.completed} + failed (dead letters) {self.failed} + "
                f"in flight {self.in_flight}; unaccounted {self.unaccounted} | last 5 s: {self.per_second:.1f} jobs/s; "
                f"jobs done in the last 30 s: p50 {self.p50_ms:,.0f} ms, p95 {self.p95_ms:,.0f} ms")


class ChaosPanel:
    """``await ChaosPanel.open(settings)``, display ``panel.widget()``; ``await panel.close()`` at the end."""

    def __init__(self, settings: Settings, client: AsyncClient) -> None:
        self._settings = settings
        self._client = client
        self._loop = asyncio.get_running_loop()
        self.processes = widgets.IntSlider(value=2, min=1, max=4, description="processes")
        self.seconds = widgets.FloatSlider(value=0.5, min=0.0, max=3.0, step=0.1, description="job s")
        self.failure = widgets.FloatSlider(value=0.2, min=0.0, max=0.9, step=0.05, description="failure rate")
        self.rate = widgets.IntSlider(value=0, min=0, max=50, description="jobs/s")
        self.restart = widgets.Button(description="Restart workers", icon="refresh")
        self.kill = widgets.Button(description="Kill a worker", icon="bolt", button_style="danger")
        self.status = widgets.HTML()
        self.restart.on_click(lambda _: self._loop.call_soon_threadsafe(self._in_background, self.start_workers))
        self.kill.on_click(lambda _: self._loop.call_soon_threadsafe(self.kill_one))
        self.job_ids: list[str] = []
        self.kills = 0
        self.refused = 0  # submits answered 429: the panel's user past its per-minute rate, or a full queue
        self.counts = Counts()
        self.worker: WorkerProcess | None = None
        self._tasks = [self._loop.create_task(at_slider_rate(self.rate, self._submit)),
                       self._loop.create_task(self._watch())]

    @classmethod
    async def open(cls, settings: Settings) -> ChaosPanel:
        """The panel, with its workers started."""
        options = AsyncClientOptions(auto_refresh_token=False, persist_session=False)
        client = await acreate_client(settings.supabase_url, settings.anon_key, options)
        await client.auth.sign_in_anonymously()  # jobs belong to a user: the bare anon key cannot submit
        panel = cls(settings, client)
        await asyncio.to_thread(panel.start_workers)
        return panel

    def widget(self) -> widgets.Widget:
        """Sliders, buttons and the live line."""
        return widgets.VBox([widgets.HBox([self.processes, self.seconds]), widgets.HBox([self.failure, self.rate]),
                             widgets.HBox([self.restart, self.kill]), self.status])

    def _in_background(self, work: Callable[[], object]) -> None:
        self._loop.run_in_executor(None, work)

    def start_workers(self) -> WorkerProcess:
        """(Re)start the worker with the chosen processes and job duration."""
        stop_recorded_worker(self._settings)
        seconds = str(self.seconds.value)
        env = worker_env(self._settings) | CHAOS_ENV | {"JOB_MIN_SECONDS": seconds, "JOB_MAX_SECONDS": seconds}
        url = urlparse(self._settings.worker_url)
        state_dir = self._settings.local_stack_dir or local_stack_dir(configured())
        self.worker = start_worker(env, port=url.port or DEFAULT_PORT, state_dir=state_dir,
                                   host=url.hostname or "127.0.0.1", concurrency=10, processes=self.processes.value)
        return self.worker

    def kill_one(self) -> int | None:
        """SIGKILL one worker process (a child of the supervisor); its pid, or None when none runs."""
        if self.worker is None:
            return None
        children = psutil.Process(self.worker.pid).children()
        if not children:
            return None
        victim = children[0].pid
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(victim).send_signal(signal.SIGKILL)
        self.kills += 1
        return victim

    async def _submit(self) -> None:
        try:
            response = await self._client.rpc("submit_job", {
                "task_name": f"chaos-{len(self.job_ids)}", "job_type": "flaky",
                "payload": {"failure_rate": self.failure.value}}).execute()
        except APIError as err:
            if err.code != QUEUE_FULL:
                raise
            self.refused += 1
            return
        self.job_ids.append(response.data["job_id"])

    async def read(self, conn: psycopg.AsyncConnection) -> Counts:
        """Count the panel's jobs by state, with throughput and latency."""
        cur = await conn.execute(STATUS, {"ids": self.job_ids})
        completed, failed, in_flight, recent, latencies = await cur.fetchone()
        values = [float(x) for x in latencies] or [0.0]
        cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
        self.counts = Counts(len(self.job_ids), completed, failed, in_flight, recent / 5, cuts[49] * 1000,
                             cuts[94] * 1000)
        refused = f" · refused (429): {self.refused}" if self.refused else ""
        self.status.value = f"<b>{self.counts.text()}</b> · workers killed: {self.kills}{refused}"
        return self.counts

    async def _watch(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._settings.db_url, autocommit=True) as conn:
            while True:
                await self.read(conn)
                await asyncio.sleep(1.0)

    async def run_for(self, seconds: float, rate: int, kill_after: float | None = None) -> None:
        """Submit ``rate`` jobs per second for ``seconds``, killing one worker ``kill_after`` seconds in."""
        self.rate.value = rate
        if kill_after is not None:
            await asyncio.sleep(kill_after)
            self.kill_one()
            seconds -= kill_after
        await asyncio.sleep(seconds)
        self.rate.value = 0

    async def settle(self, timeout: float = 120.0) -> Counts:
        """Wait until no job of the panel is pending or processing; the final counts."""
        end = self._loop.time() + timeout
        async with await psycopg.AsyncConnection.connect(self._settings.db_url, autocommit=True) as conn:
            while (counts := await self.read(conn)).in_flight:
                if self._loop.time() > end:
                    raise TimeoutError(f"{counts.in_flight} jobs still in flight after {timeout:.0f} s")
                await asyncio.sleep(0.5)
        return counts

    async def close(self) -> None:
        """Stop submitting and watching; the workers keep running."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.postgrest.aclose()
