"""A cell that waits says so: one line in its output naming what it waits for, jobs done of total, and the time
elapsed, updated in place (a display handle, plain HTML, so the saved notebook keeps its last state)."""

from __future__ import annotations

import html
from collections.abc import Mapping

STATUS_ORDER = ("pending", "processing", "completed", "failed", "cancelled")


def wait_text(what: str, done: int, total: int, elapsed: float, counts: Mapping[str, int],
              finished: bool = False) -> str:
    """``Waiting for <what>: 2 of 6 done (4 pending, 2 processing), 3.1 s elapsed``."""
    states = ", ".join(f"{counts[status]} {status}" for status in STATUS_ORDER if counts.get(status))
    detail = f" ({states})" if states else ""
    if finished:
        return f"Done: {what}: {done} of {total} reached the awaited state in {elapsed:.1f} s{detail}."
    return f"Waiting for {what}: {done} of {total} done{detail}, {elapsed:.1f} s elapsed."


class WaitLine:
    """The line in the current cell's output; ``show`` replaces its text."""

    def __init__(self, what: str, total: int) -> None:
        from IPython.display import HTML, display

        self.what = what
        self.total = total
        self._html = HTML
        self._handle = display(HTML(self._line(wait_text(what, 0, total, 0.0, {}))), display_id=True)

    @staticmethod
    def _line(text: str, colour: str = "#0b5cad") -> str:
        return f'<div class="jq-wait" style="color:{colour};font-size:12px">{html.escape(text)}</div>'

    def show(self, done: int, counts: Mapping[str, int], elapsed: float, finished: bool = False) -> None:
        """Redraw the line with the current count and time."""
        text = wait_text(self.what, done, self.total, elapsed, counts, finished)
        if self._handle is not None:
            self._handle.update(self._html(self._line(text, "#1a7f37" if finished else "#0b5cad")))

    def gave_up(self, reason: str) -> None:
        """Say why the wait ended without its jobs."""
        if self._handle is not None:
            self._handle.update(self._html(self._line(f"Stopped waiting for {self.what}: {reason}", "#c62828")))
