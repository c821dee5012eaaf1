"""What the chaos and soak tests share: a provisioned stack of their own, a paced submitter, a Realtime
watcher, and the accounting that says whether any job was lost, completed twice or delivered again.

Everything is real: the stack's processes, the worker processes (``python -m worker``), PostgreSQL. The
submitter and the watcher run in threads so that a test can break things from its own thread meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from realtime import RealtimeSubscribeStates
from supabase import AsyncClientOptions, acreate_client

from jobqueue.feed.model import JobTableModel
from jobqueue.provision import provision
from jobqueue.settings import Settings, load_settings
from jobqueue.worker_process import WorkerProcess, start_worker, stop_worker, worker_env
from supabase_local.state import STATE_DIR_ENV, StackState, free_port, load_state
from supabase_local.testing import temporary_stack
from tests.log_lines import event_lines

FAST_JOBS = {"JOB_MIN_SECONDS": "0", "JOB_MAX_SECONDS": "0.05"}
WORKER_TUNING = {"WORKER_LEASE_SECONDS": "3", "WORKER_PULL_IDLE_SECONDS": "0", "WORKER_GRACE_SECONDS": "5",
                 "WORKER_CONCURRENCY": "20", "WORKER_RETRY_BASE_SECONDS": "0.2"}
SUBMIT_BATCH = 10
JOB_ID = re.compile(r"\sjob_id=([0-9a-f-]+)")


def db_connect(state: StackState) -> psycopg.Connection:
    return psycopg.connect(state.db_url, autocommit=True, connect_timeout=5)


def query_one(state: StackState, query: str, params: tuple[Any, ...] = ()) -> Any:
    """One value, on a new connection (a test may have restarted the server meanwhile)."""
    with db_connect(state) as conn:
        return conn.execute(query, params).fetchone()[0]


@dataclass
class ChaosStack:
    """A stack of one scenario's own, provisioned, with webhooks pointed at ``port``."""

    directory: Path
    settings: Settings
    port: int
    logs: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def state(self) -> StackState:
        state = load_state(self.directory)
        assert state is not None
        return state

    def worker_env(self, **overrides: str) -> dict[str, str]:
        return worker_env(self.settings) | FAST_JOBS | WORKER_TUNING | overrides

    def start_worker(self, processes: int = 1, pull: bool = False, port: int | None = None,
                     **overrides: str) -> WorkerProcess:
        """A worker (``processes`` of them under a supervisor) on the webhook port, or on ``port``."""
        name = f"worker-{len(self.workers)}"
        worker = start_worker(self.worker_env(**overrides), port=port or self.port, state_dir=self.logs / name,
                              processes=processes, pull=pull)
        self.workers.append(worker)
        return worker

    def stop_worker(self, worker: WorkerProcess) -> None:
        stop_worker(worker)

    def completed_lines(self) -> Counter[str]:
        """How often each job was reported completed, by every worker process of the scenario (from the logs)."""
        found: Counter[str] = Counter()
        for log in self.logs.glob("*/worker.log"):
            lines = event_lines(log.read_text(errors="replace"), "job.completed")
            found.update(match.group(1) for line in lines if (match := JOB_ID.search(line)))
        return found


@contextmanager
def chaos_stack(logs: Path, redeliver_after_seconds: int = 2) -> Iterator[ChaosStack]:
    """Start and provision a stack; the sweeper re-delivers after ``redeliver_after_seconds`` of silence."""
    with temporary_stack() as started:
        directory = Path(started.root)
        settings = load_settings({STATE_DIR_ENV: str(directory)}, root=directory)
        port = free_port()
        settings = dataclasses.replace(settings, worker_url=f"http://127.0.0.1:{port}/hooks/work-queue")
        provision(settings)
        stack = ChaosStack(directory, settings, port, logs)
        with db_connect(stack.state) as conn:
            conn.execute("insert into jobqueue_private.settings (key, value) values ('redeliver_after_seconds', %s) "
                         "on conflict (key) do update set value = excluded.value", (str(redeliver_after_seconds),))
        try:
            yield stack
        finally:
            for worker in stack.workers:
                stop_worker(worker, grace_seconds=15)


class Submitter(threading.Thread):
    """Submits ``total`` jobs with ``public.submit_job`` at about ``rate`` per second, in small transactions.

    A batch that fails (server restarting) is tried again on a new connection until it commits, so the burst
    goes on through an outage, as a client with retries would. ``done`` is set after the last commit.
    """

    def __init__(self, state: StackState, total: int, rate: float, prefix: str = "chaos") -> None:
        super().__init__(daemon=True, name="submitter")
        self.state = state
        self.total = total
        self.rate = rate
        self.prefix = prefix
        self.submitted = 0
        self.retries = 0
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._submit_all()
        except BaseException as err:  # reported by wait(), not lost in the thread
            self.error = err
        finally:
            self.done.set()

    def _submit_all(self) -> None:
        started = time.monotonic()
        conn: psycopg.Connection | None = None
        while self.submitted < self.total:
            count = min(SUBMIT_BATCH, self.total - self.submitted)
            try:
                conn = conn or db_connect(self.state)
                conn.execute("select public.submit_job(%s || n) from generate_series(%s::int, %s::int) n",
                             (f"{self.prefix}-", self.submitted + 1, self.submitted + count))
            except psycopg.OperationalError:
                self.retries += 1
                conn = None
                self.done.wait(0.2)  # the server is away: try again shortly
                continue
            self.submitted += count
            ahead = started + self.submitted / self.rate - time.monotonic()
            if ahead > 0:
                self.done.wait(ahead)  # paced: a burst spread over total/rate seconds
        if conn is not None:
            conn.close()

    def wait(self, deadline: float) -> None:
        assert self.done.wait(deadline), f"submitted {self.submitted} of {self.total} jobs within {deadline} s"
        if self.error is not None:
            raise self.error


class RealtimeWatcher(threading.Thread):
    """A client that watches ``job_results`` for the whole run, as the notebook's live table does: every
    change goes into a model, and every (re)subscription re-reads the rows over REST and merges them."""

    def __init__(self, state: StackState) -> None:
        super().__init__(daemon=True, name="realtime-watcher")
        self.state = state
        self.model = JobTableModel(max_rows=1_000_000)
        self.subscriptions = 0
        self.events = 0
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finish: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.run(self._watch())

    async def _watch(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._finish = asyncio.Event()
        options = AsyncClientOptions(auto_refresh_token=False, persist_session=False)
        # The operator's view: the jobs are submitted without a user, so only the service role sees them.
        client = await acreate_client(self.state.supabase_url, self.state.service_role_key, options)
        resyncs: set[asyncio.Task[None]] = set()

        def on_change(payload: dict[str, Any]) -> None:
            record = payload["data"].get("record")
            if record:
                with self._lock:
                    self.model.upsert(record)
                    self.events += 1

        def on_state(status: RealtimeSubscribeStates, _error: Exception | None) -> None:
            if status == RealtimeSubscribeStates.SUBSCRIBED:
                task = asyncio.get_running_loop().create_task(self._resync(client))
                resyncs.add(task)
                task.add_done_callback(resyncs.discard)

        channel = client.channel("chaos-watch").on_postgres_changes("*", on_change, schema="public",
                                                                     table="job_results")
        await channel.subscribe(on_state)
        await self._finish.wait()
        await client.remove_channel(channel)

    async def _resync(self, client: Any) -> None:
        """Re-read every row; retried while the gateway or the database is still coming back."""
        for _ in range(50):
            try:
                rows = (await client.table("job_results").select("*").execute()).data
            except Exception:  # any failure means "not back yet": try again
                await asyncio.sleep(0.2)
                continue
            with self._lock:
                self.model.upsert_many(rows)
                self.subscriptions += 1
            self.ready.set()
            return

    def statuses(self) -> Counter[str]:
        with self._lock:
            return Counter(row.status for row in self.model)

    def missing(self, job_ids: set[str], status: str) -> set[str]:
        """Jobs the watcher does not hold in ``status``."""
        with self._lock:
            return {job_id for job_id in job_ids if (row := self.model.get(job_id)) is None or row.status != status}

    def stop(self) -> None:
        if self._loop is not None and self._finish is not None:
            self._loop.call_soon_threadsafe(self._finish.set)
        self.join(15)


@dataclass
class Outcome:
    """One scenario's measured row of the reliability table."""

    scenario: str
    jobs: int
    lost: int
    completed_twice: int
    extra_deliveries: int
    extra_runs: int
    dead_letters: int
    left_in_queue: int
    recover_seconds: float
    realtime_missing: int
    resubscriptions: int

    HEADERS = ("scenario", "jobs", "lost", "completed twice", "extra deliveries", "extra runs",
               "dead letters", "left in queue", "realtime missing", "resyncs", "time to recover (s)")

    def cells(self) -> tuple[str, ...]:
        return (self.scenario, str(self.jobs), str(self.lost), str(self.completed_twice),
                str(self.extra_deliveries), str(self.extra_runs), str(self.dead_letters), str(self.left_in_queue),
                str(self.realtime_missing), str(self.resubscriptions), f"{self.recover_seconds:.1f}")


def print_outside_capture(request: pytest.FixtureRequest, text: str) -> None:
    """Show ``text`` on the terminal even while pytest captures output (a report at the end of a module)."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("\n" + text)


def markdown_table(outcomes: list[Outcome]) -> str:
    rows = [Outcome.HEADERS, tuple("---" for _ in Outcome.HEADERS), *(o.cells() for o in outcomes)]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def job_ids(state: StackState) -> set[str]:
    with db_connect(state) as conn:
        return {str(job_id) for (job_id,) in conn.execute("select job_id from public.job_results")}


def wait_all_completed(state: StackState, expected: int, deadline: float) -> float:
    """Poll until ``expected`` jobs exist and all are completed; the monotonic time it happened."""
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        try:
            with db_connect(state) as conn:
                last = conn.execute("select status, count(*) from public.job_results group by status").fetchall()
        except psycopg.OperationalError as err:
            last = str(err)
        else:
            if dict(last) == {"completed": expected}:
                return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"not every one of {expected} jobs completed within {deadline} s: {last}")


def measure(stack: ChaosStack, scenario: str, jobs: int, watcher: RealtimeWatcher, fault_over: float,
            deadline: float) -> Outcome:
    """Wait for every job, then count what the run left behind; nothing here asserts on time."""
    state = stack.state
    try:
        completed_at = wait_all_completed(state, jobs, deadline)
    except AssertionError:
        completed_at = float("nan")
    with db_connect(state) as conn:
        lost = conn.execute("select count(*) from public.job_results where status <> 'completed'").fetchone()[0]
        archived_twice = conn.execute(
            "select count(*) from (select message->>'job_id' from pgmq.a_work_queue group by 1 "
            "having count(*) > 1) twice").fetchone()[0]
        # Every pg_net request of this stack is a webhook; finished jobs' delivery records are gone, their
        # responses are kept for a TTL.
        webhooks = conn.execute("select (select count(*) from net._http_response) "
                                "+ (select count(*) from net.http_request_queue)").fetchone()[0]
        extra_runs = conn.execute("select coalesce(sum(attempts - 1), 0) from public.job_results").fetchone()[0]
        dead = conn.execute("select count(*) from pgmq.q_work_queue_dlq").fetchone()[0]
        left = conn.execute("select count(*) from pgmq.q_work_queue").fetchone()[0]
    reported_twice = sum(1 for count in stack.completed_lines().values() if count > 1)
    ids = job_ids(state)
    end = time.monotonic() + 30
    while (missing := watcher.missing(ids, "completed")) and time.monotonic() < end:
        time.sleep(0.1)
    return Outcome(scenario, len(ids), int(lost) + max(0, jobs - len(ids)), max(int(archived_twice), reported_twice),
                   max(0, int(webhooks) - len(ids)), int(extra_runs), int(dead), int(left),
                   max(0.0, completed_at - fault_over), len(missing), watcher.subscriptions)
