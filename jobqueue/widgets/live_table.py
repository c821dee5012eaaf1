"""The live job table: one widget per row of a :class:`JobFeed`, redrawn when the feed says that row changed.

The table renders; it owns no data. The feed tells it about each change on the feed's loop, and the clock keeps
ages and countdowns current. A click on a row's **Cancel** may arrive on any thread (JupyterLab may run widget
callbacks on a kernel subshell), so it is handed to the feed's loop before anything is touched. The badge above the
rows shows the channel's state, and says so when the feed has stopped being pushed to.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import ipywidgets as widgets
import structlog

from jobqueue.feed import Change, ChangeKind, FeedState, JobFeed
from jobqueue.job import ACTIVE_STATUSES, Job
from jobqueue.widgets.render import CANCEL_WIDTH, connection_html, header_html, row_html, table_style, text_table

log = structlog.get_logger(__name__)

CancelFunction = Callable[[str], Awaitable[Job]]


@dataclass
class _RowView:
    """One row on screen: its HTML line and, for the operator, a Cancel button shown while the job is active."""

    html: widgets.HTML
    cancel: widgets.Button
    box: widgets.HBox


class LiveJobTable:
    """A widget showing the rows of ``feed``, newest first."""

    def __init__(self, feed: JobFeed, tick_seconds: float = 1.0, cancel: CancelFunction | None = None) -> None:
        self.feed = feed
        self.orphans: dict[str, datetime] = {}
        self._cancel = cancel
        self._tick_seconds = tick_seconds
        self._views: dict[str, _RowView] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._status = widgets.HTML(connection_html("CLOSED"))
        # The header scrolls with the rows (sticky at the top) and has the Cancel column's width beside it, so
        # header and rows always share one width, scrollbar or not, and their columns line up.
        header = widgets.HBox([self._line(header_html()), widgets.Box(layout=widgets.Layout(
            width=CANCEL_WIDTH, flex="0 0 auto", margin="0"))] if cancel is not None else [self._line(header_html())])
        header.layout.flex = "0 0 auto"  # in a full scrolling box, flex items shrink by default: not this one
        header.add_class("jq-header-box")
        self._rows_box = widgets.VBox([header], layout=widgets.Layout(max_height="28em", overflow="hidden auto"))
        self._rows_box.add_class("jq-rows")
        self.widget = widgets.VBox([widgets.HTML(table_style()), self._status, self._rows_box],
                                   layout=widgets.Layout(min_width="0", flex="1 1 30em"))
        self.widget.add_class("jq-live-table")
        feed.on_change(self._show)
        feed.on_state(self._state_changed)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    async def start(self) -> LiveJobTable:
        """Start the feed (subscribe, fill from REST) and the clock; raises when the channel fails."""
        await self.feed.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return self

    async def stop(self) -> None:
        """Stop the clock and the feed; the rows stay as they are."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.feed.stop()

    def set_orphans(self, orphans: Mapping[str, datetime]) -> None:
        """Mark the jobs whose worker is gone, with when each lease runs out; only changed rows are redrawn."""
        changed = set(orphans.items()) ^ set(self.orphans.items())
        self.orphans = dict(orphans)
        now = datetime.now(UTC)
        for job_id in {job_id for job_id, _ in changed}:
            row = self.feed.get(job_id)
            if row is not None and job_id in self._views:
                self._redraw(row, now)

    def to_text(self, rows: Iterable[Job] | None = None) -> str:
        """The table (or the given rows) as fixed-width text."""
        return text_table(self.feed.rows() if rows is None else rows, datetime.now(UTC), self.orphans)

    def _state_changed(self, state: FeedState) -> None:
        self._status.value = connection_html(state.state, state.detail)

    @staticmethod
    def _line(value: str = "") -> widgets.HTML:
        line = widgets.HTML(value, layout=widgets.Layout(flex="1 1 auto", min_width="0"))
        line.add_class("jq-line")
        return line

    def _new_view(self, row: Job) -> _RowView:
        cancel = widgets.Button(description="Cancel", tooltip="operator: cancel this job (service role)",
                                layout=widgets.Layout(width=CANCEL_WIDTH, height="1.8em", flex="0 0 auto",
                                                      margin="0"))
        cancel.add_class("jq-cancel")
        job_id = row.job_id
        cancel.on_click(lambda _button: self.feed.owner.call(self._cancel_clicked, job_id))
        line = self._line()
        # Rows never shrink to fit the scrolling box (flex items do by default): the box scrolls instead.
        box = widgets.HBox((line, cancel) if self._cancel is not None else (line,),
                           layout=widgets.Layout(flex="0 0 auto", align_items="center", width="100%"))
        box.add_class("jq-row-box")
        return _RowView(line, cancel, box)

    def _redraw(self, row: Job, now: datetime) -> None:
        view = self._views[row.job_id]
        html = row_html(row, now, self.orphans.get(row.job_id))
        if view.html.value != html:
            view.html.value = html
        visibility = "visible" if row.status in ACTIVE_STATUSES else "hidden"
        if view.cancel.layout.visibility != visibility:
            view.cancel.layout.visibility = visibility

    def _cancel_clicked(self, job_id: str) -> None:
        """On the feed's loop: disable the button and ask the operator's cancel."""
        if self._cancel is not None and job_id in self._views:
            self._views[job_id].cancel.disabled = True
            self.feed.owner.spawn(self._cancel_reporting(self._cancel, job_id))

    async def _cancel_reporting(self, cancel: CancelFunction, job_id: str) -> None:
        try:
            self.feed.apply(await cancel(job_id))
            log.info("live_table.cancelled", job_id=job_id)
        except Exception as err:
            log.error("live_table.cancel_failed", job_id=job_id, error=str(err))
            self._status.value = connection_html(self.feed.status.state, f"cancel of {job_id[:8]} failed: {err}")
            if job_id in self._views:
                self._views[job_id].cancel.disabled = False

    def _show(self, change: Change) -> None:
        """Touch only the widget of the row that changed (and of the row pushed out of the newest N)."""
        row = change.row
        if row is None:
            return
        now = datetime.now(UTC)
        if change.kind is ChangeKind.UPDATED and row.job_id in self._views:
            self._redraw(row, now)
        elif change.kind in (ChangeKind.ADDED, ChangeKind.UPDATED):
            view = self._views[row.job_id] = self._new_view(row)
            self._redraw(row, now)
            children = list(self._rows_box.children)
            if change.evicted is not None and change.evicted.job_id in self._views:
                children.remove(self._forget(change.evicted.job_id).box)
            children.insert(change.position + 1, view.box)  # after the header
            self._rows_box.children = tuple(children)
        elif row.job_id in self._views:
            box = self._forget(row.job_id).box
            self._rows_box.children = tuple(child for child in self._rows_box.children if child is not box)

    def _forget(self, job_id: str) -> _RowView:
        self.orphans.pop(job_id, None)
        return self._views.pop(job_id)

    async def _tick(self) -> None:
        """Keep the Age, Duration and countdown texts current; only rows whose text changed are sent."""
        while True:
            await asyncio.sleep(self._tick_seconds)
            try:
                now = datetime.now(UTC)
                for row in self.feed.rows():
                    if row.job_id in self._views:
                        self._redraw(row, now)
            except Exception:
                log.exception("live_table.tick_failed")
