"""The pg_net-compatible dispatcher: sends what ``net.http_*`` queued and records each response.

It is woken by NOTIFY (sent at commit by a trigger on ``net.http_request_queue``), never by polling. Each
wake claims queued rows with ``delete ... for update skip locked`` (as pg_net does, a claimed request is
sent at most once; the job queue above it retries), sends them with at most ``max_concurrency`` in flight,
and writes the responses to ``net._http_response``: at once when the last write is ``RECORD_INTERVAL_SECONDS``
old, else when it will be, one statement for every response that came back meanwhile. Responses older than
``pg_net.ttl`` (default 6 hours) are deleted at the moment they expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from starlette.routing import BaseRoute

from supabase_local.http1 import Http11Client, HttpError
from supabase_local.pg_listener import Listener
from supabase_local.pool_check import CheckWhenIdle
from supabase_local.state import StackState

log = structlog.get_logger(__name__)

CHANNEL = "net_http_request_queue"
CONCURRENCY_ENV = "SUPABASE_LOCAL_NET_CONCURRENCY"
DEFAULT_CONCURRENCY = 32
RESPONSE_BATCH = 500
# Writes start at most this often: under load (hundreds of webhooks a second) each carries several responses, and
# a caller waiting on one response after a quiet spell (a cron tick's answer) does not wait at all.
RECORD_INTERVAL_SECONDS = 0.005
RETRY_SECONDS = 1.0
EXPIRE_EVERY_SECONDS = 1.0
POOL_TIMEOUT = 5.0
USER_AGENT = "pg_net-compatible (supabase_local)"

# The claimed ids are materialized once. Written as `where id in (select ... limit n for update skip locked)`,
# the planner may pick a nested loop that runs the subquery again for each row; each run skips the rows the
# statement has already deleted and takes the next ones, so one claim could take every queued row.
CLAIM_SQL = """
with claimed as materialized (
  select id from net.http_request_queue order by id limit %(n)s for update skip locked
)
delete from net.http_request_queue q using claimed
where q.id = claimed.id
returning q.id, q.method, q.url, q.headers, q.body, q.timeout_milliseconds
"""
# A batch of outcomes is one JSON parameter and one statement: far less client work than a statement per row.
RECORD_SQL = """
insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg)
select r.id, r.status_code, r.content_type, r.headers, r.content, r.timed_out, r.error_msg
from jsonb_to_recordset(%s) as r(id bigint, status_code integer, content_type text, headers jsonb, content text,
                                 timed_out boolean, error_msg text)
"""
EXPIRE_SQL = """
with ttl as (select coalesce(nullif(current_setting('pg_net.ttl', true), ''), '6 hours')::interval as keep),
gone as (delete from net._http_response r using ttl where r.created < now() - ttl.keep returning 1)
select (select count(*) from gone),
       (select extract(epoch from min(r.created) + ttl.keep - now())
        from net._http_response r, ttl where r.created >= now() - ttl.keep group by ttl.keep)
"""


@dataclass(frozen=True)
class NetRequest:
    """One claimed row of ``net.http_request_queue``."""

    id: int
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    timeout_milliseconds: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> NetRequest:
        """Header values are sent as text, like ``jsonb_each_text`` would give them."""
        headers = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (row["headers"] or {}).items()}
        headers.setdefault("User-Agent", USER_AGENT)
        body = bytes(row["body"]) if row["body"] is not None else None
        return cls(row["id"], row["method"].upper(), row["url"], headers, body, row["timeout_milliseconds"])


async def send_request(client: Http11Client, req: NetRequest) -> dict[str, Any]:
    """Send one request and return the ``net._http_response`` row that records its outcome."""
    outcome: dict[str, Any] = {"id": req.id, "status_code": None, "content_type": None, "headers": None,
                               "content": None, "timed_out": False, "error_msg": None}
    try:
        async with asyncio.timeout(req.timeout_milliseconds / 1000):
            response = await client.request(req.method, req.url, req.headers, req.body)
    except TimeoutError:
        outcome.update(timed_out=True, error_msg=f"Timeout of {req.timeout_milliseconds} ms reached")
    except HttpError as err:
        outcome["error_msg"] = str(err)
    else:
        outcome.update(status_code=response.status_code, content_type=response.headers.get("content-type"),
                       headers=dict(response.headers),
                       content=response.text.replace("\x00", ""))
    return outcome


class NetDispatcher:
    """The service that plays pg_net's background worker."""

    name = "pg_net"

    def __init__(self, db_url: str, listener: Listener, max_concurrency: int = DEFAULT_CONCURRENCY) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        self.max_concurrency = max_concurrency
        self._db_url = db_url
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._responses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._unrecorded: list[dict[str, Any]] = []  # taken from the queue, not yet written
        self._listener = listener
        listener.wake(self.name, CHANNEL, self._wake)
        self._background: list[asyncio.Task[None]] = []
        self._problem: str | None = None
        self._pool: AsyncConnectionPool | None = None
        self._client: Http11Client | None = None

    @classmethod
    def from_state(cls, state: StackState, listener: Listener) -> NetDispatcher:
        """The stack's dispatcher; ``$SUPABASE_LOCAL_NET_CONCURRENCY`` bounds the requests in flight."""
        return cls(state.admin_url, listener, int(os.environ.get(CONCURRENCY_ENV, DEFAULT_CONCURRENCY)))

    def routes(self) -> list[BaseRoute]:
        """None: the dispatcher works in the background only."""
        return []

    def health(self) -> str | None:
        """Why requests cannot be sent right now, or None."""
        return self._listener.problem or self._problem

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._in_flight)

    async def start(self) -> None:
        """Connect, then drain whatever was queued while no dispatcher ran."""
        self._pool = AsyncConnectionPool(self._db_url, min_size=1, max_size=4, open=False, timeout=POOL_TIMEOUT,
                                         kwargs={"autocommit": True}, name="net-dispatcher",
                                         **CheckWhenIdle().pool_callbacks)
        await self._pool.open()
        # The dispatcher's own slots are the one bound on requests in flight; the client never makes a claimed
        # request wait for a connection.
        self._client = Http11Client(max_idle=self.max_concurrency)
        self._background = [asyncio.create_task(self._dispatch_loop(), name="net-dispatch"),
                            asyncio.create_task(self._record_loop(), name="net-record")]

    async def stop(self) -> None:
        """Stop sending; requests in flight are abandoned, as when pg_net's worker stops."""
        for task in [*self._background, *self._in_flight]:
            task.cancel()
        await asyncio.gather(*self._background, *self._in_flight, return_exceptions=True)
        await self._flush_responses()
        if self._client is not None:
            await self._client.aclose()
        if self._pool is not None:
            await self._pool.close()

    async def _dispatch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        checked_at = float("-inf")
        next_expiry: float | None = None  # loop time of the next response to expire, as last checked
        while True:
            deadline = next_expiry
            if loop.time() - checked_at < EXPIRE_EVERY_SECONDS:
                deadline = min(deadline or float("inf"), checked_at + EXPIRE_EVERY_SECONDS)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._drain()
                # Expired responses are looked for at most once a second, not on every wake: under load the
                # dispatcher wakes hundreds of times a second and each look costs the database a query.
                if loop.time() - checked_at >= EXPIRE_EVERY_SECONDS:
                    expires_in = await self._expire()
                    checked_at = loop.time()
                    next_expiry = None if expires_in is None else checked_at + expires_in
                self._problem = None
            except psycopg.Error as err:
                self._problem = f"database unreachable: {err}"
                log.warning("dispatcher.drain_failed", error=str(err))
                next_expiry = loop.time() + RETRY_SECONDS

    async def _drain(self) -> None:
        """Claim and start requests while there are queued rows, never more than the free slots."""
        while True:
            while self.in_flight >= self.max_concurrency:
                self._slot_free.clear()
                await self._slot_free.wait()
            wanted = self.max_concurrency - self.in_flight
            async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(CLAIM_SQL, {"n": wanted})
                rows = await cur.fetchall()
            for row in rows:
                request = NetRequest.from_row(row)
                task = asyncio.create_task(self._send(request), name=f"net-request-{request.id}")
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if len(rows) < wanted:
                return

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot_free.set()

    async def _send(self, request: NetRequest) -> None:
        outcome = await send_request(self._client, request)
        # Every outcome is recorded in net._http_response; the log names only the ones that went wrong.
        answered = outcome["error_msg"] is None and outcome["status_code"] < 400
        (log.debug if answered else log.info)("dispatcher.sent", id=request.id, method=request.method,
                                               url=request.url, status=outcome["status_code"],
                                               error=outcome["error_msg"])
        self._responses.put_nowait(outcome)

    async def _expire(self) -> float | None:
        """Delete expired responses; seconds until the next one expires (None when there is none)."""
        async with self._pool.connection() as conn:
            deleted, next_in = await (await conn.execute(EXPIRE_SQL)).fetchone()
        if deleted:
            log.info("dispatcher.expired", responses=deleted)
        return max(float(next_in), 0.0) if next_in is not None else None

    async def _record_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_write = float("-inf")
        while True:
            self._unrecorded.append(await self._responses.get())
            # Like pg_net's worker, which inserts the responses of each wake together; one statement per response
            # measurably cost the webhook path CPU per job, and a fixed pause cost each lone response its length.
            if (wait := last_write + RECORD_INTERVAL_SECONDS - loop.time()) > 0:
                await asyncio.sleep(wait)
            last_write = loop.time()
            while len(self._unrecorded) < RESPONSE_BATCH and not self._responses.empty():
                self._unrecorded.append(self._responses.get_nowait())
            while True:
                try:
                    await self._write(self._unrecorded)
                    self._unrecorded = []
                    break
                except psycopg.Error as err:
                    self._problem = f"cannot record responses: {err}"
                    log.warning("dispatcher.record_failed", error=str(err), pending=len(self._unrecorded))
                    await asyncio.sleep(RETRY_SECONDS)

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(RECORD_SQL, [Jsonb(batch)])

    async def _flush_responses(self) -> None:
        """On stop, record what was answered but not yet written, if the database still takes it."""
        batch = self._unrecorded + [self._responses.get_nowait() for _ in range(self._responses.qsize())]
        if batch and self._pool is not None:
            try:
                await self._write(batch)
            except psycopg.Error as err:
                log.warning("dispatcher.responses_lost", count=len(batch), error=str(err))
