"""The job feed: Realtime changes of ``job_results`` merged into a :class:`JobTableModel`.

A signed-in user's feed listens on their private broadcast topic ``jobs:<user id>``, where the database broadcasts
each change of their jobs (``realtime.broadcast_changes``; only they may join it). The operator's feed (service
role, no user) listens to every job with ``postgres_changes``. Both arrive as the same change and are merged alike.

It holds no widget. The live table renders it (``on_change`` / ``on_state``), ``wait_for_job_completion`` and the
notebook's steps wait on it (``wait_for``). Whenever the channel becomes SUBSCRIBED (the first join and every rejoin
after a reconnect) the rows are re-read over REST and merged, so changes made while the socket was down are not
lost, and a late REST answer never overwrites a newer event.

Every change to the model runs on the loop ``start`` ran on (see :class:`LoopBound`); ``apply`` and ``wait_for``
may be called from any thread or loop and are handed over. An event the feed cannot apply is logged and its row
re-read over REST: a handler that raised would otherwise end the Realtime client's listener and, silently, the
feed. While the channel is not subscribed, or the client's listener has stopped, the rows are re-read every
``poll_seconds`` and the state says so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from realtime import AsyncRealtimeChannel, RealtimeSubscribeStates
from supabase import AsyncClient

from jobqueue.feed.loop import LoopBound
from jobqueue.feed.model import Change, ChangeKind, JobTableModel
from jobqueue.job import TERMINAL_STATUSES, Job

log = structlog.get_logger(__name__)

TABLE = "job_results"
SUBSCRIBED = RealtimeSubscribeStates.SUBSCRIBED.value
STOPPED = "LISTENER STOPPED"
ChangeObserver = Callable[[Change], None]
StateObserver = Callable[["FeedState"], None]


@dataclass(frozen=True)
class FeedState:
    """The channel's state as the feed last saw it, and a sentence about anything wrong."""

    state: str
    detail: str | None = None

    @property
    def live(self) -> bool:
        """True while changes are pushed (subscribed, listener running)."""
        return self.state == SUBSCRIBED


@dataclass
class _Waiter:
    remaining: set[str]
    statuses: frozenset[str]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def observe(self, row: Job) -> None:
        if row.job_id in self.remaining and row.status in self.statuses:
            self.remaining.discard(row.job_id)
            if not self.remaining and not self.done.done():
                self.done.set_result(None)


def _kind(payload: Mapping[str, Any]) -> str:
    kind = (payload.get("data") or {}).get("type")
    return str(getattr(kind, "value", kind))


def _as_change(message: Mapping[str, Any]) -> dict[str, Any]:
    """A broadcast of ``realtime.broadcast_changes`` in the shape of a ``postgres_changes`` payload."""
    body = message.get("payload") or {}
    return {"data": {"type": body.get("operation") or message.get("event"), "record": body.get("record"),
                     "old_record": body.get("old_record")}}


def _job_id_of(payload: Mapping[str, Any]) -> str | None:
    data = payload.get("data") or {}
    for key in ("record", "old_record"):
        record = data.get(key)
        if isinstance(record, Mapping) and record.get("job_id"):
            return str(record["job_id"])
    return None


class JobFeed:
    """The newest ``max_rows`` jobs (or one job, with ``job_id``), kept current by Supabase Realtime: on the
    private broadcast ``topic`` when one is given (a user's ``jobs:<user id>``), else by ``postgres_changes``."""

    def __init__(self, client: AsyncClient, max_rows: int = 50, job_id: str | None = None,
                 poll_seconds: float = 1.0, name: str = "job-feed", topic: str | None = None) -> None:
        self.model = JobTableModel(1 if job_id else max_rows)
        self.job_id = job_id
        self.topic = topic
        self.status = FeedState("CLOSED")
        self.events = 0
        self.errors = 0
        self.rereads: list[tuple[int, int]] = []  # (rows read, rows they changed), per full REST re-read
        self.progress_seen: dict[str, list[int]] = {}
        self._client = client
        self._poll_seconds = poll_seconds
        self._name = name
        self._owner: LoopBound | None = None
        self._channel: AsyncRealtimeChannel | None = None
        self._waiters: list[_Waiter] = []
        self._change_observers: list[ChangeObserver] = []
        self._state_observers: list[StateObserver] = []
        self._refreshed: asyncio.Task[None] | concurrent.futures.Future[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def owner(self) -> LoopBound:
        """The loop that owns the model (known once ``start`` ran)."""
        if self._owner is None:
            raise RuntimeError("the feed has not been started: await feed.start() first")
        return self._owner

    def on_change(self, observer: ChangeObserver) -> None:
        """Call ``observer(change)`` on the feed's loop after every change of the model."""
        self._change_observers.append(observer)

    def on_state(self, observer: StateObserver) -> Callable[[], None]:
        """Call ``observer(state)`` on the feed's loop whenever the channel's state or its trouble changes (and
        once now); returns what stops the calls."""
        self._state_observers.append(observer)
        observer(self.status)
        return lambda: self._state_observers.remove(observer)

    async def start(self, require_subscribed: bool = True) -> JobFeed:
        """Subscribe and fill the model over REST; raises when the channel does not subscribe and
        ``require_subscribed`` (else the feed polls until it does)."""
        self._owner = LoopBound()
        self._set_state("CONNECTING")
        if self.topic is not None:
            channel = self._client.channel(self.topic, {"config": {"private": True}})
            channel.on_broadcast("*", self._on_broadcast)
        else:
            channel = self._client.channel(f"{self._name}-{self.job_id}" if self.job_id else self._name)
            channel.on_postgres_changes("*", schema="public", table=TABLE, callback=self._on_event,
                                        filter=f"job_id=eq.{self.job_id}" if self.job_id else None)
        self._channel = channel
        await channel.subscribe(self._on_subscribe_state)
        if require_subscribed and not self.status.live:
            raise RuntimeError(f"the Realtime channel on {self.topic or TABLE} did not subscribe: {self.status.state}")
        if self._refreshed is not None:
            await self.reread_done()
        else:
            await self.refresh()
        self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        return self

    async def stop(self) -> None:
        """Leave the channel and stop polling; the rows stay as they are."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._client.remove_channel(self._channel)
            self._channel = None
        if self._owner is not None:
            self._owner.cancel_all()
        self._set_state("CLOSED")

    async def reread_done(self) -> None:
        """Return once the REST re-read started by the latest (re)subscribe has been merged."""
        refreshed = self._refreshed
        if isinstance(refreshed, asyncio.Task):
            await asyncio.shield(refreshed)
        elif refreshed is not None:
            await asyncio.wrap_future(refreshed)

    async def refresh(self) -> None:
        """Re-read the rows over REST (the newest N, or the one job) and merge them; newer Realtime states win."""
        query = self._client.table(TABLE).select("*")
        if self.job_id:
            query = query.eq("job_id", self.job_id)
        response = await query.order("created_at", desc=True).limit(self.model.max_rows).execute()
        rows = response.data or []
        changed = sum(self._merge(row) is not None for row in rows)
        self.rereads.append((len(rows), changed))
        log.debug("feed.refreshed", rows=len(rows), changed=changed)

    async def reread(self, job_id: str) -> None:
        """Re-read one job's row over REST and merge it (after an event that could not be applied)."""
        response = await self._client.table(TABLE).select("*").eq("job_id", job_id).limit(1).execute()
        for row in response.data or []:
            self._merge(row)

    def apply(self, record: Mapping[str, Any] | Job) -> None:
        """Merge one row (an RPC's answer) from any thread; it is applied on the feed's loop."""
        self.owner.call(self._merge, record)

    def get(self, job_id: str) -> Job | None:
        """The newest state of ``job_id`` the feed holds (a read: safe from any thread)."""
        return self.model.get(job_id)

    def rows(self) -> list[Job]:
        """The rows, newest first (a copy)."""
        return list(self.model)

    async def wait_for(self, job_ids: Iterable[str], statuses: Collection[str] = TERMINAL_STATUSES,
                       timeout: float = 120.0) -> list[Job]:
        """Resolve when every job has reached one of ``statuses``, as the feed sees it; callable from any loop."""
        return await self.owner.run(self._wait_for([str(job_id) for job_id in job_ids], frozenset(statuses),
                                                   timeout))

    async def _wait_for(self, ids: list[str], statuses: frozenset[str], timeout: float) -> list[Job]:
        waiter = _Waiter(set(ids), statuses)
        for job_id in ids:
            if (row := self.model.get(job_id)) is not None:
                waiter.observe(row)
        if waiter.remaining:
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter.done), timeout)
            except TimeoutError:
                seen = {job_id: (row.status if (row := self.model.get(job_id)) else "not seen")
                        for job_id in sorted(waiter.remaining)}
                raise TimeoutError(f"after {timeout:g} s these jobs had not reached {sorted(statuses)}: "
                                   f"{seen}") from None
            finally:
                self._waiters.remove(waiter)
        return [row for job_id in ids if (row := self.model.get(job_id)) is not None]

    def _merge(self, record: Mapping[str, Any] | Job) -> Change | None:
        self.owner.require("a change of the job model")
        change = self.model.upsert(record)
        if change.kind is ChangeKind.IGNORED or change.row is None:
            return None
        self._publish(change)
        return change

    def _publish(self, change: Change) -> None:
        row = change.row
        if change.evicted is not None:
            self.progress_seen.pop(change.evicted.job_id, None)
        if row is not None and change.kind is not ChangeKind.REMOVED:
            seen = self.progress_seen.setdefault(row.job_id, [])
            if row.status == "processing" and (not seen or seen[-1] != row.progress):
                seen.append(row.progress)
        for observer in self._change_observers:
            try:
                observer(change)
            except Exception:
                log.exception("feed.observer_failed", job_id=row.job_id if row else None)
        if row is not None:
            for waiter in self._waiters:
                waiter.observe(row)

    def _on_broadcast(self, message: Mapping[str, Any]) -> None:
        """A change broadcast on the user's topic: every job of theirs, so a one-job feed keeps its own."""
        change = _as_change(message)
        if self.job_id is None or _job_id_of(change) == self.job_id:
            self._on_event(change)

    def _on_event(self, payload: Mapping[str, Any]) -> None:
        """Realtime's callback, on its listener task: whatever goes wrong here is logged, never raised."""
        try:
            if _kind(payload) == "DELETE":
                change = self.model.remove((payload.get("data") or {}).get("old_record") or {})
                if change.kind is not ChangeKind.IGNORED:
                    self.progress_seen.pop(change.row.job_id if change.row else "", None)
                    self._publish(change)
            else:
                self._merge((payload.get("data") or {}).get("record") or {})
            self.events += 1
        except Exception as err:
            self.errors += 1
            job_id = _job_id_of(payload)
            log.exception("feed.bad_event", change=_kind(payload), job_id=job_id, error=str(err))
            self.owner.spawn(self._reread_logged(job_id))

    async def _reread_logged(self, job_id: str | None) -> None:
        try:
            await (self.reread(job_id) if job_id else self.refresh())
        except Exception as err:
            log.error("feed.reread_failed", job_id=job_id, error=str(err))
            self._set_state(self.status.state, f"REST re-read failed: {err}")

    def _on_subscribe_state(self, status: RealtimeSubscribeStates, error: Exception | None) -> None:
        try:
            self._set_state(status.value, str(error) if error else None)
            log.info("feed.channel_state", state=status.value, error=str(error) if error else None)
            if status == RealtimeSubscribeStates.SUBSCRIBED:
                self._refreshed = self.owner.spawn(self._reread_logged(None))
        except Exception:
            log.exception("feed.state_handler_failed", state=status.value)

    def _listener_trouble(self) -> str | None:
        """Why the Realtime client's listener no longer runs, or None while it does (or is reconnecting)."""
        listener = getattr(self._client.realtime, "_listen_task", None)
        if listener is None or not listener.done():
            return None
        error = None if listener.cancelled() else listener.exception()
        return f"the Realtime listener stopped ({error or 'ended'}); rows are re-read every " \
               f"{self._poll_seconds:g} s over REST until the cell is run again"

    async def _watch(self) -> None:
        """Say when the listener stopped; while nothing is pushed, re-read the rows every ``poll_seconds``."""
        while True:
            await asyncio.sleep(self._poll_seconds)
            trouble = self._listener_trouble()
            if trouble is not None and self.status.state != STOPPED:
                log.error("feed.listener_stopped", detail=trouble)
                self._set_state(STOPPED, trouble)
            if trouble is not None or not self.status.live:
                await self._reread_logged(None)

    def _set_state(self, state: str, detail: str | None = None) -> None:
        self.status = FeedState(state, detail)
        for observer in self._state_observers:
            try:
                observer(self.status)
            except Exception:
                log.exception("feed.observer_failed", state=state)
