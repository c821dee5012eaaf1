"""submit_job through supabase-py as a signed-in (anonymous) user, as the notebook calls it: good names and bad ones."""

from __future__ import annotations

import pytest
from postgrest.exceptions import APIError
from supabase import Client

from jobqueue.settings import Settings
from tests.schema_helpers import call, count_rows, message
from tests.users import signed_in


@pytest.fixture(scope="module")
def user(provisioned: Settings) -> Client:
    return signed_in(provisioned)


def submit(user: Client, name: str) -> dict:
    data = user.rpc("submit_job", {"task_name": name}).execute().data
    return data[0] if isinstance(data, list) else data


@pytest.mark.parametrize("name", ["resize image 42", "café ☕ 日本", "x" * 200])
def test_good_name_writes_a_pending_row_and_queues_the_message(user, db, name):
    row = submit(user, name)
    assert (row["task_name"], row["status"], row["attempts"]) == (name, "pending", 0)
    queued = message(db, "work_queue", row["msg_id"])
    assert queued["message"] == {"job_id": row["job_id"], "task_name": name, "job_type": "echo", "priority": 0}
    stored = call(db, "select task_name, status from job_results where job_id = %(j)s", {"j": row["job_id"]})
    assert stored == [{"task_name": name, "status": "pending"}]


def test_name_is_trimmed(user):
    assert submit(user, "  \t padded name \n ")["task_name"] == "padded name"


@pytest.mark.parametrize("name", [
    "Robert'); drop table job_results; --",
    "' or 1=1; delete from job_results where ''='",
    "$$; select pg_sleep(10); $$",
    "%s %(x)s {0} \\x00",
])
def test_sql_looking_names_are_stored_literally(user, db, name):
    row = submit(user, name)
    assert row["task_name"] == name
    assert call(db, "select to_regclass('public.job_results') is not null as exists")[0]["exists"]


@pytest.mark.parametrize(("name", "reason"), [
    ("", "empty"),
    ("   ", "empty"),
    ("x" * 201, "201 characters"),
    ("y" * 10_240, "10240 characters"),
    ("tab\tinside", "control characters"),
    ("line\nbreak", "control characters"),
    ("bell\x07", "control characters"),
    ("delete\x7f", "control characters"),
    ("c1\x9fcontrol", "control characters"),
])
def test_bad_names_get_a_clear_error_and_change_nothing(user, db, name, reason):
    before = count_rows(db, name.strip())
    with pytest.raises(APIError) as refused:
        submit(user, name)
    assert refused.value.code == "22023"
    assert reason in refused.value.message
    assert count_rows(db, name.strip()) == before
