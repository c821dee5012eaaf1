"""Webhook body validation: a clear message for each malformed body."""

from __future__ import annotations

import json

import pytest

from worker.intake import BadDelivery, parse_delivery

JOB_ID = "0b9c4d1e-8f4f-4e0a-9d53-1b7c1f1f2a3b"


def test_good_body_becomes_a_delivery():
    delivery = parse_delivery(json.dumps({"msg_id": 7, "job_id": JOB_ID.upper(), "task_name": "report"}).encode(),
                              "wh-1")
    assert (delivery.msg_id, delivery.job_id, delivery.task_name, delivery.webhook_id) == (7, JOB_ID, "report", "wh-1")


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (json.dumps({"job_id": JOB_ID, "task_name": "x"}).encode(), "missing field 'msg_id'"),
    (json.dumps({"msg_id": 1, "task_name": "x"}).encode(), "missing field 'job_id'"),
    (json.dumps({"msg_id": 1, "job_id": JOB_ID}).encode(), "missing field 'task_name'"),
    (json.dumps({"msg_id": "1", "job_id": JOB_ID, "task_name": "x"}).encode(), "msg_id must be"),
    (json.dumps({"msg_id": True, "job_id": JOB_ID, "task_name": "x"}).encode(), "msg_id must be"),
    (json.dumps({"msg_id": 1, "job_id": "nope", "task_name": "x"}).encode(), "job_id must be a UUID"),
    (json.dumps({"msg_id": 1, "job_id": JOB_ID, "task_name": ""}).encode(), "task_name must be"),
    (json.dumps({"msg_id": 1, "job_id": JOB_ID, "task_name": 5}).encode(), "task_name must be"),
])
def test_malformed_bodies_are_refused_with_a_reason(body, message):
    with pytest.raises(BadDelivery, match=message):
        parse_delivery(body, "wh-1")
