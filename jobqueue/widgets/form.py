"""The job form: a **Job name** box and a **Process Job** button that submit through the ``submit_job`` RPC.

The name is checked here by the same rule as the database (trimmed, 1-200 characters, no control characters), so
a bad name gets an inline error and nothing is sent; if the database still refuses, its message is shown. The
click handler only schedules a task on the kernel's event loop, so the button never blocks the kernel.
"""

from __future__ import annotations

import asyncio
import html
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import structlog
from postgrest.exceptions import APIError
from supabase import AsyncClient

log = structlog.get_logger(__name__)

MAX_NAME_LENGTH = 200
_SPACE = " \t\n\r\f\v"
SubmittedCallback = Callable[[Mapping[str, Any]], object]


class InvalidJobName(ValueError):
    """The job name breaks the rule shared with ``submit_job``; the message says which part."""


def validate_job_name(raw: str) -> str:
    """The trimmed name, or InvalidJobName explaining what is wrong (same rule as the SQL function)."""
    name = (raw or "").strip(_SPACE)
    if not name:
        raise InvalidJobName("Job name is empty: type a name for the job.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidJobName(f"Job name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}.")
    bad = sorted({f"U+{ord(ch):04X}" for ch in name if unicodedata.category(ch) == "Cc"})
    if bad:
        raise InvalidJobName(f"Job name contains control characters ({', '.join(bad)}); use printable text.")
    return name


async def submit_job(client: AsyncClient, task_name: str) -> dict[str, Any]:
    """Call the ``submit_job`` RPC: one transaction writes the pending row and queues the message."""
    response = await client.rpc("submit_job", {"task_name": task_name}).execute()
    row = response.data[0] if isinstance(response.data, list) else response.data
    if not isinstance(row, dict) or "job_id" not in row:
        raise RuntimeError(f"submit_job answered without a job row: {response.data!r}")
    return row


def _message_html(text: str, error: bool) -> str:
    colour = "#c62828" if error else "#1a7f37"
    kind = "jq-form-error" if error else "jq-form-ok"
    return f'<span class="{kind}" style="color:{colour}">{html.escape(text)}</span>'


class JobForm:
    """Job name + Process Job; each accepted submission is passed to the ``on_submitted`` callbacks."""

    def __init__(self, client: AsyncClient, on_submitted: SubmittedCallback | None = None) -> None:
        self._client = client
        self._callbacks: list[SubmittedCallback] = [on_submitted] if on_submitted else []
        self._tasks: set[asyncio.Task[None]] = set()
        self.submitted: list[dict[str, Any]] = []
        self.name = widgets.Text(placeholder="e.g. resize-image-42", description="Job name",
                                 layout=widgets.Layout(width="28em"))
        self.button = widgets.Button(description="Process Job", button_style="primary", icon="play")
        self.message = widgets.HTML("")
        self.name.add_class("jq-job-name")
        self.button.add_class("jq-process-job")
        self.button.on_click(self._clicked)
        self.name.on_submit(self._clicked)
        self.widget = widgets.VBox([widgets.HBox([self.name, self.button]), self.message])
        self.widget.add_class("jq-job-form")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def on_submitted(self, callback: SubmittedCallback) -> None:
        """Also call ``callback(row)`` for every job this form submits."""
        self._callbacks.append(callback)

    async def submit(self, raw_name: str) -> dict[str, Any] | None:
        """Validate and submit one name; returns the pending row, or None when the name or the server refused."""
        try:
            name = validate_job_name(raw_name)
        except InvalidJobName as err:
            self.message.value = _message_html(str(err), error=True)
            log.info("form.invalid_name", reason=str(err))
            return None
        try:
            row = await submit_job(self._client, name)
        except APIError as err:
            self.message.value = _message_html(f"The server refused the job: {err.message}", error=True)
            log.warning("form.rejected", task_name=name, code=err.code, message=err.message)
            return None
        self.submitted.append(row)
        self.message.value = _message_html(f"Submitted {name!r} as job {row['job_id']}.", error=False)
        log.info("form.submitted", task_name=name, job_id=row["job_id"])
        for callback in self._callbacks:
            callback(row)
        return row

    def _clicked(self, _: object) -> None:
        task = asyncio.get_running_loop().create_task(self._submit_reporting(self.name.value))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit_reporting(self, raw_name: str) -> None:
        try:
            if await self.submit(raw_name) is not None:
                self.name.value = ""
        except Exception as err:
            self.message.value = _message_html(f"Could not submit: {err}", error=True)
            log.error("form.submit_failed", error=str(err))
