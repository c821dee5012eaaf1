"""The job form: type, name, JSON payload, priority and delay, and a **Process Job** button that submits through
the ``submit_job`` RPC with the anon key.

Everything the database would refuse is checked here first, by the same rules: the name (trimmed, 1-200
characters, no control characters), the payload against the type's ``payload_schema``, priority and delay against
``submit_job``'s limits, as you type. A value out of range is refused with the rule, never changed; the form shows
the exact call it will make and which of the type's defaults fill what the payload leaves out. A field change
clears the last answer. If the database still refuses, its answer is shown naming the argument. Each click sends
the request's idempotency key, so a double-click makes one job. The click handler only hands the click to the
loop that owns the clients and the job feed (the kernel's main loop, even when JupyterLab delivers the click on a
subshell thread), so the button never blocks the kernel and never touches the feed from another thread.
"""

from __future__ import annotations

import html
import json
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import ipywidgets as widgets
import structlog
from postgrest.exceptions import APIError

from jobqueue.feed import LoopBound
from jobqueue.job import Job
from jobqueue.job_requests import JobRejected, submit_arguments
from jobqueue.widgets.idempotency import RequestKey
from jobqueue.widgets.payload import check_payload, schema_defaults
from jobqueue.widgets.request_rules import call_text, defaults_note, range_problem

log = structlog.get_logger(__name__)

MAX_NAME_LENGTH = 200
_SPACE = " \t\n\r\f\v"
SubmittedCallback = Callable[[Job], object]


class SubmitFunction(Protocol):
    """``enqueue_job`` with its client bound: what the form calls to submit."""

    def __call__(self, job_type: str, payload: Mapping[str, Any] | None = None, *, task_name: str | None = None,
                  priority: int | None = None, delay: float | None = None,
                  idempotency_key: str | None = None) -> Awaitable[Job]: ...


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


@dataclass(frozen=True)
class FormRequest:
    """What one click asks for, taken from the fields at the moment of the click."""

    job_type: str
    payload: dict[str, Any]
    task_name: str
    priority: int
    delay: int
    idempotency_key: str


def message_html(text: str, error: bool) -> str:
    """A one-line form message, red for a problem and green for an accepted job."""
    colour = "#c62828" if error else "#1a7f37"
    kind = "jq-form-error" if error else "jq-form-ok"
    return f'<span class="{kind}" style="color:{colour}">{html.escape(text)}</span>'


def type_summary(job_type: Mapping[str, Any]) -> str:
    """The type's description and defaults, shown under the dropdown."""
    attempts = job_type.get("max_attempts") or "the project's limit"
    return (f"<span class='jq-job-type-about' style='color:#555'>{html.escape(str(job_type.get('description')))}"
            f" <i>(defaults: priority {job_type.get('priority', 0)}, timeout {job_type.get('timeout_seconds')} s, "
            f"attempts: {html.escape(str(attempts))})</i></span>")


def _classed(widget: widgets.DOMWidget, name: str) -> widgets.DOMWidget:
    widget.add_class(name)
    return widget


class JobForm:
    """The form; each accepted submission is passed to the ``on_submitted`` callbacks."""

    def __init__(self, job_types: Sequence[Mapping[str, Any]], submit: SubmitFunction,
                 on_submitted: SubmittedCallback | None = None, owner: LoopBound | None = None) -> None:
        if not job_types:
            raise ValueError("no job types to offer: is the schema provisioned (job_types)?")
        self._types = {str(row["name"]): row for row in job_types}
        self._submit = submit
        self._callbacks: list[SubmittedCallback] = [on_submitted] if on_submitted else []
        self._owner = owner
        self._replacing_options = False
        self.key = RequestKey()
        self.submitted: list[Job] = []
        wide = widgets.Layout(width="28em")
        self.job_type = _classed(widgets.Dropdown(options=list(self._types), description="Type", layout=wide),
                                 "jq-job-type")
        self.about = _classed(widgets.HTML(layout=widgets.Layout(flex="1 1 20em")), "jq-about")
        self.name = _classed(widgets.Text(placeholder="e.g. resize-image-42", description="Job name",
                                          layout=wide), "jq-job-name")
        self.payload = _classed(widgets.Textarea(description="Payload", rows=2, layout=wide), "jq-payload")
        self.payload_error = _classed(widgets.HTML(layout=widgets.Layout(flex="1 1 20em")), "jq-payload-error")
        # Plain integer boxes: a bounded box would silently clamp 500 to 100; the rule is shown instead.
        self.priority = _classed(widgets.IntText(description="Priority", layout=widgets.Layout(width="12em")),
                                 "jq-priority")
        self.delay = _classed(widgets.IntText(description="Delay (s)", layout=widgets.Layout(width="12em")),
                              "jq-delay")
        self.field_error = _classed(widgets.HTML(), "jq-field-error")
        self.preview = _classed(widgets.HTML(), "jq-preview")
        self.unserved = _classed(widgets.HTML(), "jq-unserved")
        self.button = _classed(widgets.Button(description="Process Job", button_style="primary", icon="play"),
                               "jq-process-job")
        self.message = _classed(widgets.HTML(""), "jq-message")
        self.button.on_click(self._clicked)
        self.job_type.observe(self._type_changed, names="value")
        for field in (self.job_type, self.name, self.payload, self.priority, self.delay):
            field.observe(self._field_changed, names="value")
        self.widget = widgets.VBox([
            widgets.HBox([self.job_type, self.about]),
            widgets.HBox([self.name, self.priority, self.delay, self.field_error],
                         layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([self.payload, self.payload_error]),
            self.preview,
            widgets.HBox([self.button, self.message]),
            self.unserved,
        ])
        self.widget.add_class("jq-job-form")
        self._type_changed({"new": self.job_type.value})

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def on_submitted(self, callback: SubmittedCallback) -> None:
        """Also call ``callback(job)`` for every job this form submits."""
        self._callbacks.append(callback)

    def set_types(self, job_types: Sequence[Mapping[str, Any]]) -> None:
        """Offer the types ``job_types`` lists now (a type added since the form opened appears); the chosen type
        and what was typed stay when that type is still there."""
        fresh = {str(row["name"]): row for row in job_types}
        if not fresh or fresh == self._types:
            return
        chosen = self.job_type.value
        self._types = fresh
        if chosen not in fresh:
            self.job_type.options = list(fresh)  # the type is gone: the first one is chosen, with its defaults
            return
        self._replacing_options = True  # a Dropdown picks its first option meanwhile; that is no choice of ours
        try:
            self.job_type.options = list(fresh)
            self.job_type.value = chosen
        finally:
            self._replacing_options = False
        self.about.value = type_summary(fresh[chosen])
        self._refresh()

    def set_served(self, served: Sequence[str] | None, worker: str = "the running worker") -> None:
        """Warn about types ``job_types`` lists that ``worker`` does not serve (``served`` None: unknown)."""
        missing = [] if served is None else sorted(set(self._types) - set(served))
        self.unserved.value = "" if not missing else message_html(
            f"job_types lists {', '.join(missing)}, which {worker} does not serve (it serves "
            f"{', '.join(sorted(served or [])) or 'none'}): such a job would wait or fail. Restart the worker "
            "after adding a task (python -m jobqueue.worker_process stop, then start).", error=True)

    def _type_changed(self, change: Mapping[str, Any]) -> None:
        if self._replacing_options:
            return
        chosen = self._types[change["new"]]
        self.about.value = type_summary(chosen)
        self.priority.value = int(chosen.get("priority") or 0)
        self.payload.value = json.dumps(schema_defaults(chosen.get("payload_schema") or {}))
        self._refresh()

    def _field_changed(self, _change: Mapping[str, Any]) -> None:
        """Any field changed: a new request (new key), and the answer to the last one no longer applies."""
        if self._replacing_options:
            return
        self.key.forget()
        self.message.value = ""
        self._refresh()

    def _schema(self) -> Mapping[str, Any]:
        return self._types[self.job_type.value].get("payload_schema") or {}

    def _problems(self) -> list[str]:
        problems = [problem for argument, field in (("priority", self.priority), ("delay_seconds", self.delay))
                    if (problem := range_problem(argument, int(field.value))) is not None]
        if self.name.value.strip():
            try:
                validate_job_name(self.name.value)
            except InvalidJobName as err:
                problems.append(str(err))
        return problems

    def _refresh(self) -> None:
        """Show the rules the fields break, else the call a click makes; enable the button only when it may."""
        checked = check_payload(self.payload.value, self._schema())
        self.payload_error.value = "" if checked.ok else message_html(str(checked.error), error=True)
        problems = self._problems()
        self.field_error.value = "".join(message_html(problem, error=True) + "<br>" for problem in problems)
        self.button.disabled = bool(problems) or not checked.ok
        if self.button.disabled or checked.payload is None:
            self.preview.value = ""
            return
        arguments = submit_arguments(self.job_type.value, checked.payload,
                                     task_name=self.name.value.strip() or "(type a name)",
                                     priority=int(self.priority.value), delay=int(self.delay.value) or None,
                                     max_attempts=None, timeout=None, idempotency_key=None)
        note = defaults_note(self._schema(), checked.payload)
        self.preview.value = ("<div style='font-size:12px;color:#444'>Process Job sends: <code>"
                              f"{html.escape(call_text(arguments, self.key.pending))}</code>"
                              + (f"<br>{html.escape(note)}" if note else "") + "</div>")

    def request(self) -> FormRequest | None:
        """The request the fields describe, with its idempotency key; None (and the reason shown) when invalid."""
        try:
            name = validate_job_name(self.name.value)
        except InvalidJobName as err:
            self.message.value = message_html(str(err), error=True)
            return None
        problems = self._problems()
        if problems:
            self.message.value = message_html(problems[0], error=True)
            return None
        checked = check_payload(self.payload.value, self._schema())
        if checked.payload is None:
            self.message.value = message_html(str(checked.error), error=True)
            return None
        request = FormRequest(self.job_type.value, checked.payload, name, int(self.priority.value),
                              int(self.delay.value), self.key.current())
        self._refresh()
        return request

    async def submit(self) -> Job | None:
        """Submit what the form holds now; the job, or None when the form or the server refused."""
        request = self.request()
        return None if request is None else await self.send(request)

    async def send(self, request: FormRequest) -> Job | None:
        """Send one request; its answer (new job, same job again, or refusal) is shown under the button."""
        try:
            job = await self._submit(request.job_type, request.payload, task_name=request.task_name,
                                     priority=request.priority, delay=request.delay or None,
                                     idempotency_key=request.idempotency_key)
        except JobRejected as err:
            hint = f" ({err.hint})" if err.hint else ""
            self.message.value = message_html(f"submit_job refused {err.argument or 'the job'}: {err}{hint}",
                                              error=True)
            log.info("form.rejected", argument=err.argument, reason=str(err))
            return None
        except APIError as err:
            self.message.value = message_html(f"The server refused the job: {err.message}", error=True)
            log.warning("form.refused", code=err.code, message=err.message)
            return None
        if self.key.answered(request.idempotency_key, job.job_id):
            self.message.value = message_html(
                f"Same request again: job {job.job_id} was already submitted with this idempotency key; "
                "nothing new was queued. Change a field to ask for another job.", error=False)
            log.info("form.same_job", job_id=job.job_id)
            return job
        self.submitted.append(job)
        when = f", starts in {request.delay} s" if request.delay else ""
        self.message.value = message_html(f"Submitted {request.task_name!r} as job {job.job_id} "
                                          f"({request.job_type}, priority {job.priority}{when}).", error=False)
        log.info("form.submitted", task_name=request.task_name, job_id=job.job_id)
        for callback in self._callbacks:
            callback(job)
        return job

    def _clicked(self, _: object) -> None:
        """The button's callback, on whatever thread the kernel delivered the click: hand it to the owning loop."""
        owner = self._owner or LoopBound()
        owner.call(self._take_and_send, owner)

    def _take_and_send(self, owner: LoopBound) -> None:
        request = self.request()  # taken per click, so a double-click sends one key twice
        if request is not None:
            owner.spawn(self._send_reporting(request))

    async def _send_reporting(self, request: FormRequest) -> Job | None:
        try:
            return await self.send(request)
        except Exception as err:
            self.message.value = message_html(f"Could not submit: {err}", error=True)
            log.error("form.submit_failed", error=str(err))
            return None
