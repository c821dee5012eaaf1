"""The delivery and attempt outcome model: one HTTP status per admission, the database's statuses as outcomes."""

from __future__ import annotations

import json

import pytest

from worker.outcomes import Admission, Outcome


def test_each_admission_carries_the_status_the_webhook_answers():
    assert {admission.value: admission.http_status for admission in Admission} == {
        "accepted": 202, "duplicate": 202, "busy": 429, "stopping": 503}


def test_admissions_and_outcomes_go_on_the_wire_as_plain_strings():
    assert json.dumps({"outcome": Admission.BUSY, Outcome.RETRYING: 1}) == '{"outcome": "busy", "retrying": 1}'
    assert Admission("duplicate") is Admission.DUPLICATE


@pytest.mark.parametrize(("row", "outcome"), [
    ({"status": "completed"}, Outcome.COMPLETED),
    ({"status": "cancelled"}, Outcome.CANCELLED),  # a cancel requested while the task ran wins
    ({"status": "failed"}, Outcome.FAILED),
    ({"status": "pending"}, Outcome.RETRYING),
    (None, Outcome.DUPLICATE),  # the job had already ended
    ({"status": "processing"}, Outcome.ERROR),  # no report leaves a job processing
])
def test_a_reported_row_becomes_the_outcome_the_database_recorded(row, outcome):
    assert Outcome.reported(row) is outcome
