"""The pg_cron-compatible runner: runs the commands of ``cron.job`` when they are due.

The schedule lives in memory. The runner sleeps until the next job is due or until a trigger on
``cron.job`` notifies a change (no polling). Each run gets its own connection to the job's database, runs
as the job's user, and is recorded in ``cron.job_run_details`` (``running``, then ``succeeded`` or
``failed`` with pg_cron's return message). A job still running when it is due again is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import structlog
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import class_row
from starlette.routing import BaseRoute

from supabase_local.cron_schedule import InvalidSchedule, Schedule
from supabase_local.pg_listener import Listener
from supabase_local.state import StackState

log = structlog.get_logger(__name__)

CHANNEL = "cron_job_changed"
RETRY_SECONDS = 1.0

LOAD_SQL = "select jobid, schedule, command, database, username, active, jobname from cron.job"
START_SQL = """
insert into cron.job_run_details (jobid, job_pid, database, username, command, status, start_time)
values (%s, %s, %s, %s, %s, %s, now())
returning runid
"""
FINISH_SQL = "update cron.job_run_details set status = %s, return_message = %s, end_time = now() where runid = %s"
INTERRUPTED_SQL = """
update cron.job_run_details set status = 'failed', return_message = 'server restarted'
where status in ('starting', 'running')
"""


@dataclass(frozen=True)
class CronJob:
    """One row of ``cron.job``."""

    jobid: int
    schedule: str
    command: str
    database: str
    username: str
    active: bool
    jobname: str | None


def return_message(cur: psycopg.AsyncCursor[object]) -> str:
    """pg_cron's message for a finished command: ``"N rows"`` for a query, else the command tag."""
    while cur.nextset():
        pass
    if cur.description is not None:
        return f"{cur.rowcount} {'row' if cur.rowcount == 1 else 'rows'}"
    return cur.statusmessage or ""


class CronRunner:
    """The service that plays pg_cron's launcher."""

    name = "pg_cron"

    def __init__(self, db_url: str, listener: Listener) -> None:
        self._db_url = db_url
        self._changed = asyncio.Event()
        self._listener = listener
        listener.wake(self.name, CHANNEL, self._changed)
        self._jobs: dict[int, tuple[CronJob, Schedule]] = {}
        self._due: dict[int, datetime] = {}
        self._reported_invalid: set[tuple[int, str]] = set()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._background: list[asyncio.Task[None]] = []
        self._problem: str | None = None

    @classmethod
    def from_state(cls, state: StackState, listener: Listener) -> CronRunner:
        """The stack's runner."""
        return cls(state.admin_url, listener)

    def routes(self) -> list[BaseRoute]:
        """None: the runner works in the background only."""
        return []

    def health(self) -> str | None:
        """Why jobs cannot run right now, or None."""
        return self._listener.problem or self._problem

    async def start(self) -> None:
        """Mark runs cut short by a previous stop as failed, then start scheduling."""
        try:
            async with await psycopg.AsyncConnection.connect(self._db_url, autocommit=True) as conn:
                await conn.execute(INTERRUPTED_SQL)
        except psycopg.Error as err:
            log.warning("cron.interrupted_runs_unmarked", error=str(err))
        self._background = [asyncio.create_task(self._schedule_loop(), name="cron-schedule")]

    async def stop(self) -> None:
        """Stop scheduling; runs in progress are cancelled (their connections close, rolling them back)."""
        tasks = [*self._background, *self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _schedule_loop(self) -> None:
        wait: float | None = None
        reload = True
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._changed.wait()
            if self._changed.is_set():
                self._changed.clear()
                reload = True
            if reload:
                try:
                    await self._load()
                    reload, self._problem = False, None
                except psycopg.Error as err:
                    self._problem = f"cannot read cron.job: {err}"
                    log.warning("cron.load_failed", error=str(err))
            wait = self._start_due_jobs(datetime.now(UTC))
            if reload:
                wait = RETRY_SECONDS if wait is None else min(wait, RETRY_SECONDS)

    async def _load(self) -> None:
        """Read cron.job; a job keeps its next due time unless its schedule changed."""
        async with (await psycopg.AsyncConnection.connect(self._db_url, autocommit=True) as conn,
                    conn.cursor(row_factory=class_row(CronJob)) as cur):
            rows = await (await cur.execute(LOAD_SQL)).fetchall()
        now = datetime.now(UTC)
        jobs: dict[int, tuple[CronJob, Schedule]] = {}
        for job in rows:
            try:
                schedule = Schedule.parse(job.schedule)
            except InvalidSchedule as err:
                await self._report_invalid(job, str(err))
                continue
            jobs[job.jobid] = (job, schedule)
            known = self._jobs.get(job.jobid)
            if known is None or known[1] != schedule or job.jobid not in self._due:
                self._due[job.jobid] = schedule.next_after(now)
        self._jobs = jobs
        self._due = {jobid: due for jobid, due in self._due.items() if jobid in jobs}
        log.info("cron.loaded", jobs=len(jobs))

    def _start_due_jobs(self, now: datetime) -> float | None:
        """Start every active job that is due; seconds until the next one is due (None when none is)."""
        for jobid, due in list(self._due.items()):
            if due > now:
                continue
            job, schedule = self._jobs[jobid]
            self._due[jobid] = schedule.next_after(now)
            if not job.active:
                continue
            if jobid in self._running:
                log.info("cron.skipped", jobid=jobid, jobname=job.jobname, reason="previous run still running")
                continue
            self._running[jobid] = asyncio.create_task(self._run(job), name=f"cron-job-{jobid}")
        if not self._due:
            return None
        return max((min(self._due.values()) - datetime.now(UTC)).total_seconds(), 0.0)

    async def _run(self, job: CronJob) -> None:
        try:
            async with await psycopg.AsyncConnection.connect(self._db_url, autocommit=True) as admin:
                runid: int | None = None
                try:
                    conninfo = make_conninfo(self._db_url, dbname=job.database)
                    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                        runid = await self._record_start(admin, job, conn.info.backend_pid)
                        await conn.execute(sql.SQL("set role {}").format(sql.Identifier(job.username)))
                        cur = await conn.execute(sql.SQL(job.command))
                        status, message = "succeeded", return_message(cur)
                except psycopg.Error as err:
                    status, message = "failed", f"ERROR:  {err}"
                if runid is None:
                    runid = await self._record_start(admin, job, None)
                await admin.execute(FINISH_SQL, (status, message, runid))
                log.info("cron.ran", jobid=job.jobid, jobname=job.jobname, status=status, message=message)
        except psycopg.Error as err:
            log.warning("cron.run_unrecorded", jobid=job.jobid, error=str(err))
        finally:
            self._running.pop(job.jobid, None)

    async def _record_start(self, admin: psycopg.AsyncConnection[object], job: CronJob, pid: int | None) -> int:
        cur = await admin.execute(START_SQL, (job.jobid, pid, job.database, job.username, job.command, "running"))
        return (await cur.fetchone())[0]

    async def _report_invalid(self, job: CronJob, message: str) -> None:
        """Record one failed run for a schedule that bypassed ``cron.schedule``'s check (once per schedule)."""
        if (job.jobid, job.schedule) in self._reported_invalid:
            return
        self._reported_invalid.add((job.jobid, job.schedule))
        async with await psycopg.AsyncConnection.connect(self._db_url, autocommit=True) as admin:
            runid = await self._record_start(admin, job, None)
            await admin.execute(FINISH_SQL, ("failed", message, runid))
        log.warning("cron.invalid_schedule", jobid=job.jobid, schedule=job.schedule)
