"""The form's own rules, without a server: the payload check as you type, defaults per type, the idempotency key
kept per request, and what the form says for a new job, the same job again, and a refusal."""

from __future__ import annotations

import json

import pytest

from jobqueue.job import Job
from jobqueue.job_requests import JobRejected, QueueFull
from jobqueue.widgets.form import JobForm
from jobqueue.widgets.idempotency import RequestKey
from jobqueue.widgets.payload import check_payload, schema_defaults
from worker.tasks import default_registry

TYPES = default_registry().job_type_rows()
REPORT = next(row["payload_schema"] for row in TYPES if row["name"] == "generate_report")


def test_defaults_come_from_the_schema():
    assert schema_defaults(REPORT) == {"title": "Weekly report", "sections": 5}
    assert schema_defaults({"type": "object"}) == {}


@pytest.mark.parametrize(("text", "problem"), [
    ('{"sections": 25}', "payload.sections: 25 is greater than the maximum of 20"),
    ('{"sections": "five"}', "payload.sections: 'five' is not of type 'integer'"),
    ('{"title": ""}', "payload.title"),
    ('{"colour": "red"}', "payload.colour is not a field of this job type (fields: sections, title)"),
    ('{"sections": 3', "payload is not valid JSON"),
    ("[1, 2]", "payload must be a JSON object, got list"),
])
def test_a_bad_payload_names_the_field(text, problem):
    checked = check_payload(text, REPORT)
    assert not checked.ok and checked.payload is None
    assert problem in str(checked.error)


def test_a_missing_required_field_is_named():
    schema = {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}
    assert check_payload("{}", schema).error == "payload.url is required"


def test_a_good_payload_parses_and_an_empty_box_is_an_empty_object():
    assert check_payload('{"sections": 3}', REPORT).payload == {"sections": 3}
    assert check_payload("  ", REPORT).payload == {}


def test_the_key_is_kept_until_a_field_changes():
    minted = iter(["k1", "k2"])
    key = RequestKey(mint=lambda: next(minted))
    assert key.current() == key.current() == "k1"
    assert key.answered("k1", "job-a") is False
    assert key.answered("k1", "job-a") is True
    key.forget()
    assert key.current() == "k2"
    assert key.answered("k2", "job-a") is False


class FakeServer:
    """submit_job's idempotency: one job per key, the same job for the same key."""

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []
        self.jobs: dict[str, Job] = {}

    async def __call__(self, job_type, payload=None, *, task_name=None, priority=None, delay=None,
                       idempotency_key=None) -> Job:
        self.calls.append({"job_type": job_type, "payload": payload, "task_name": task_name, "priority": priority,
                           "delay": delay, "idempotency_key": idempotency_key})
        if task_name == "refused-by-the-server":
            raise JobRejected("payload does not fit job type echo: payload.message is too long", "payload")
        if task_name == "one-too-many":
            raise QueueFull("the queue is full: 10000 jobs are waiting", None, "retry later; nothing was queued")
        job = self.jobs.setdefault(idempotency_key, Job(job_id=f"job-{len(self.jobs) + 1}", task_name=task_name,
                                                        status="pending", job_type=job_type))
        return job


@pytest.fixture
def form() -> tuple[JobForm, FakeServer, list[Job]]:
    server, seen = FakeServer(), []
    return JobForm(TYPES, submit=server, on_submitted=seen.append), server, seen


def test_changing_the_type_prefills_its_defaults(form):
    widget, _, _ = form
    widget.job_type.value = "generate_report"
    assert json.loads(widget.payload.value) == {"title": "Weekly report", "sections": 5}
    assert "section by section" in widget.about.value
    widget.payload.value = '{"sections": 50}'
    assert "payload.sections" in widget.payload_error.value and widget.button.disabled
    widget.payload.value = '{"sections": 2}'
    assert widget.payload_error.value == "" and not widget.button.disabled


async def test_pressing_twice_makes_one_job_and_says_so(form):
    widget, server, seen = form
    widget.job_type.value = "generate_report"
    widget.name.value = "quarterly"
    widget.priority.value = 5
    widget.delay.value = 3
    first = await widget.submit()
    second = await widget.submit()
    assert first is not None and second is not None and first.job_id == second.job_id
    assert "Same request again" in widget.message.value and "nothing new was queued" in widget.message.value
    assert [job.job_id for job in seen] == [first.job_id]
    assert server.calls[0] == {"job_type": "generate_report", "payload": {"title": "Weekly report", "sections": 5},
                               "task_name": "quarterly", "priority": 5, "delay": 3,
                               "idempotency_key": server.calls[1]["idempotency_key"]}


async def test_a_changed_field_is_a_new_request(form):
    widget, _, seen = form
    widget.name.value = "one"
    await widget.submit()
    widget.name.value = "two"
    await widget.submit()
    assert len({job.job_id for job in seen}) == 2


async def test_a_refusal_names_the_argument(form):
    widget, _, seen = form
    widget.name.value = "refused-by-the-server"
    assert await widget.submit() is None
    assert "submit_job refused payload" in widget.message.value and seen == []


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("priority", 500, "priority must be between -100 and 100, got 500"),
    ("priority", -101, "priority must be between -100 and 100, got -101"),
    ("delay", -5, "delay_seconds must be between 0 and 2592000, got -5"),
])
async def test_out_of_range_input_is_refused_with_the_rule_not_clamped(form, field, value, rule):
    widget, server, _ = form
    widget.name.value = "out-of-range"
    getattr(widget, field).value = value
    assert getattr(widget, field).value == value
    assert rule in widget.field_error.value and widget.button.disabled and widget.preview.value == ""
    assert await widget.submit() is None
    assert rule in widget.message.value and server.calls == []


def test_the_form_shows_the_call_it_will_make_and_the_defaults_it_relies_on(form):
    widget, _, _ = form
    widget.job_type.value = "generate_report"
    widget.name.value = "q3"
    widget.delay.value = 7
    assert ('submit_job(task_name =&gt; &quot;q3&quot;, job_type =&gt; &quot;generate_report&quot;, payload =&gt; '
            '{&quot;title&quot;: &quot;Weekly report&quot;, &quot;sections&quot;: 5}, priority =&gt; 0, '
            'delay_seconds =&gt; 7, idempotency_key =&gt; (a new key') in widget.preview.value
    widget.payload.value = ""
    assert "An empty payload means the type&#x27;s defaults: title = &quot;Weekly report&quot;, sections = 5" \
        in widget.preview.value
    widget.payload.value = '{"sections": 2}'
    assert "Fields left out take the type&#x27;s defaults: title = &quot;Weekly report&quot;" in widget.preview.value


async def test_a_changed_field_clears_the_last_answer(form):
    widget, _, _ = form
    widget.name.value = "first"
    await widget.submit()
    assert "Submitted" in widget.message.value
    widget.name.value = "second"
    assert widget.message.value == ""


def test_new_types_appear_and_unserved_ones_are_named(form):
    widget, _, _ = form
    widget.job_type.value = "generate_report"
    widget.payload.value = '{"sections": 3}'
    added = {"name": "resize_image", "description": "resize", "priority": 0, "timeout_seconds": 60,
             "payload_schema": {"type": "object"}}
    widget.set_types([*TYPES, added])
    assert "resize_image" in widget.job_type.options
    assert widget.job_type.value == "generate_report" and widget.payload.value == '{"sections": 3}'
    widget.set_served([row["name"] for row in TYPES], "the worker (pid 42)")
    assert "job_types lists resize_image, which the worker (pid 42) does not serve" in widget.unserved.value
    widget.set_served([*[row["name"] for row in TYPES], "resize_image"])
    assert widget.unserved.value == ""


async def test_a_full_queue_says_to_retry_later(form):
    widget, _, seen = form
    widget.name.value = "one-too-many"
    assert await widget.submit() is None
    assert "the queue is full" in widget.message.value and "retry later" in widget.message.value and seen == []


async def test_an_invalid_name_sends_nothing(form):
    widget, server, _ = form
    widget.name.value = "   "
    assert await widget.submit() is None
    assert "empty" in widget.message.value and server.calls == []
