"""The live job table: Realtime ``postgres_changes`` on ``job_results`` pushed into one widget per row.

Rows are pushed, never polled. Each Realtime event updates one row widget. Whenever the channel becomes
SUBSCRIBED (the first join and every rejoin after a reconnect) the newest rows are re-read over REST and merged,
so changes made while the socket was down are not lost, and a late REST answer never overwrites a newer event.
Active rows carry a **Cancel** button when the table is given the operator's cancel function.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ipywidgets as widgets
import structlog
from realtime import AsyncRealtimeChannel, RealtimeSubscribeStates
from supabase import AsyncClient

from jobqueue.job import ACTIVE_STATUSES, TERMINAL_STATUSES, Job
from jobqueue.widgets.model import Change, ChangeKind, JobTableModel
from jobqueue.widgets.render import connection_html, header_html, row_html, text_table

log = structlog.get_logger(__name__)

TABLE = "job_results"
CancelFunction = Callable[[str], Awaitable[Job]]


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


@dataclass
class _RowView:
    """One row on screen: its HTML line and, for the operator, a Cancel button shown while the job is active."""

    html: widgets.HTML
    cancel: widgets.Button
    box: widgets.HBox


def _value(event_type: Any) -> str:
    return str(getattr(event_type, "value", event_type))


class LiveJobTable:
    """A widget showing the newest ``max_rows`` jobs, kept current by Supabase Realtime."""

    def __init__(self, client: AsyncClient, max_rows: int = 50, tick_seconds: float = 1.0,
                 cancel: CancelFunction | None = None) -> None:
        self.model = JobTableModel(max_rows)
        self.state = "CLOSED"
        self.events = 0
        self.orphans: dict[str, datetime] = {}
        self.progress_seen: dict[str, list[int]] = {}
        self._client = client
        self._cancel = cancel
        self._tick_seconds = tick_seconds
        self._channel: AsyncRealtimeChannel | None = None
        self._views: dict[str, _RowView] = {}
        self._waiters: list[_Waiter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._refreshed: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._status = widgets.HTML(connection_html(self.state))
        self._rows_box = widgets.VBox(layout=widgets.Layout(max_height="28em", overflow_y="auto"))
        self.widget = widgets.VBox([self._status, widgets.HTML(header_html()), self._rows_box])
        self.widget.add_class("jq-live-table")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    async def start(self) -> LiveJobTable:
        """Subscribe to ``job_results`` changes and fill the table from REST; raises when the channel fails."""
        self._set_state("CONNECTING")
        channel = self._client.channel("job-table")
        channel.on_postgres_changes("*", schema="public", table=TABLE, callback=self._on_change)
        self._channel = channel
        await channel.subscribe(self._on_subscribe_state)
        if self.state != RealtimeSubscribeStates.SUBSCRIBED.value:
            raise RuntimeError(f"the Realtime channel on {TABLE} did not subscribe: {self.state}")
        if self._refreshed is not None:
            await self._refreshed
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return self

    async def stop(self) -> None:
        """Leave the channel and stop the clock; the rows stay as they are."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._channel is not None:
            await self._client.remove_channel(self._channel)
            self._channel = None
        for task in list(self._tasks):
            task.cancel()
        self._set_state("CLOSED")

    async def refresh(self) -> None:
        """Re-read the newest rows over REST and merge them (newer Realtime states win)."""
        response = await (self._client.table(TABLE).select("*").order("created_at", desc=True)
                          .limit(self.model.max_rows).execute())
        rows = response.data or []
        changes = self.model.upsert_many(rows)
        for change in changes:
            self._show(change)
        log.info("live_table.refreshed", rows=len(rows), changed=len(changes))

    def apply(self, record: Mapping[str, Any] | Job) -> Change:
        """Merge one row (a Realtime record or an RPC's answer) and update its widget."""
        change = self.model.upsert(record)
        self._show(change)
        return change

    def set_orphans(self, orphans: Mapping[str, datetime]) -> None:
        """Mark the jobs whose worker is gone, with when each lease runs out; only changed rows are redrawn."""
        changed = set(orphans.items()) ^ set(self.orphans.items())
        self.orphans = dict(orphans)
        now = datetime.now(UTC)
        for job_id in {job_id for job_id, _ in changed}:
            row = self.model.get(job_id)
            if row is not None:
                self._redraw(row, now)

    async def wait_for(self, job_ids: Iterable[str], statuses: Collection[str] = TERMINAL_STATUSES,
                       timeout: float = 120.0) -> list[Job]:
        """Resolve when every job has reached one of ``statuses``, as Realtime reports it; no polling."""
        ids = [str(job_id) for job_id in job_ids]
        waiter = _Waiter(set(ids), frozenset(statuses))
        for job_id in ids:
            row = self.model.get(job_id)
            if row is not None:
                waiter.observe(row)
        if waiter.remaining:
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter.done), timeout)
            except TimeoutError:
                seen = {job_id: (row.status if (row := self.model.get(job_id)) else "not seen")
                        for job_id in sorted(waiter.remaining)}
                raise TimeoutError(f"after {timeout:.0f} s these jobs had not reached {sorted(statuses)}: "
                                   f"{seen}") from None
            finally:
                self._waiters.remove(waiter)
        return [row for job_id in ids if (row := self.model.get(job_id)) is not None]

    def rows(self) -> list[Job]:
        """The rows, newest first."""
        return list(self.model)

    def to_text(self, rows: Iterable[Job] | None = None) -> str:
        """The table (or the given rows) as fixed-width text."""
        return text_table(self.model if rows is None else rows, datetime.now(UTC), self.orphans)

    def _on_change(self, payload: Mapping[str, Any]) -> None:
        data = payload.get("data") or {}
        kind = _value(data.get("type"))
        try:
            if kind == "DELETE":
                change = self.model.remove(data.get("old_record") or {})
                self._show(change)
            else:
                self.apply(data.get("record") or {})
        except (ValueError, TypeError) as err:
            log.error("live_table.bad_event", change=kind, error=str(err))
            return
        self.events += 1

    def _on_subscribe_state(self, status: RealtimeSubscribeStates, error: Exception | None) -> None:
        self._set_state(status.value, error)
        log.info("live_table.channel_state", state=status.value, error=str(error) if error else None)
        if status == RealtimeSubscribeStates.SUBSCRIBED:
            self._refreshed = self._spawn(self._refresh_logged())

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception as err:
            log.error("live_table.refresh_failed", error=str(err))
            self._set_state(self.state, f"REST re-read failed: {err}")

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _set_state(self, state: str, detail: Any = None) -> None:
        self.state = state
        self._status.value = connection_html(state, detail)

    def _new_view(self, row: Job) -> _RowView:
        cancel = widgets.Button(description="Cancel", tooltip="operator: cancel this job (service role)",
                                layout=widgets.Layout(width="6em", height="1.8em"))
        cancel.add_class("jq-cancel")
        job_id = row.job_id
        cancel.on_click(lambda _button: self._cancel_clicked(job_id))
        line = widgets.HTML()
        # Rows never shrink to fit the scrolling box (flex items do by default): the box scrolls instead.
        box = widgets.HBox((line, cancel) if self._cancel is not None else (line,),
                           layout=widgets.Layout(flex="0 0 auto", align_items="center"))
        return _RowView(line, cancel, box)

    def _redraw(self, row: Job, now: datetime) -> None:
        view = self._views[row.job_id]
        html = row_html(row, now, self.orphans.get(row.job_id))
        if view.html.value != html:
            view.html.value = html
        visibility = "visible" if row.status in ACTIVE_STATUSES else "hidden"
        if view.cancel.layout.visibility != visibility:
            view.cancel.layout.visibility = visibility

    def _note_progress(self, row: Job) -> None:
        seen = self.progress_seen.setdefault(row.job_id, [])
        if row.status == "processing" and (not seen or seen[-1] != row.progress):
            seen.append(row.progress)

    def _cancel_clicked(self, job_id: str) -> None:
        if self._cancel is not None:
            self._views[job_id].cancel.disabled = True
            self._spawn(self._cancel_reporting(self._cancel, job_id))

    async def _cancel_reporting(self, cancel: CancelFunction, job_id: str) -> None:
        try:
            self.apply(await cancel(job_id))
            log.info("live_table.cancelled", job_id=job_id)
        except Exception as err:
            log.error("live_table.cancel_failed", job_id=job_id, error=str(err))
            self._set_state(self.state, f"cancel of {job_id[:8]} failed: {err}")
            if job_id in self._views:
                self._views[job_id].cancel.disabled = False

    def _show(self, change: Change) -> None:
        """Touch only the widget of the row that changed (and of the row pushed out of the newest N)."""
        row = change.row
        if change.kind is ChangeKind.IGNORED or row is None:
            return
        now = datetime.now(UTC)
        if change.kind is ChangeKind.UPDATED:
            self._redraw(row, now)
        elif change.kind is ChangeKind.ADDED:
            view = self._views[row.job_id] = self._new_view(row)
            self._redraw(row, now)
            children = list(self._rows_box.children)
            if change.evicted is not None:
                children.remove(self._forget(change.evicted.job_id).box)
            children.insert(change.position, view.box)
            self._rows_box.children = tuple(children)
        else:
            box = self._forget(row.job_id).box
            self._rows_box.children = tuple(child for child in self._rows_box.children if child is not box)
        if change.kind is not ChangeKind.REMOVED:
            self._note_progress(row)
        for waiter in self._waiters:
            waiter.observe(row)

    def _forget(self, job_id: str) -> _RowView:
        self.progress_seen.pop(job_id, None)
        self.orphans.pop(job_id, None)
        return self._views.pop(job_id)

    async def _tick(self) -> None:
        """Keep the Age, Duration and countdown texts current; only rows whose text changed are sent."""
        while True:
            await asyncio.sleep(self._tick_seconds)
            now = datetime.now(UTC)
            for row in self.model:
                self._redraw(row, now)
