"""The job model in SQL: submit_job's checks, idempotency keys, priority, delay, cancel, progress, attempts, stats.

Through supabase-py as a signed-in (anonymous) user where a browser would call, and as the worker (service role
RPCs called by SQL here) elsewhere. No worker runs: the session stack posts webhooks to a port where nothing listens.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import Client, ClientOptions, create_client

from jobqueue.settings import Settings
from tests.schema_helpers import call, count_rows, message
from tests.users import signed_in

pytestmark = pytest.mark.usefixtures("provisioned")


@pytest.fixture(scope="module")
def anon(provisioned: Settings) -> Client:
    return create_client(provisioned.supabase_url, provisioned.anon_key)


@pytest.fixture(scope="module")
def user(provisioned: Settings) -> Client:
    return signed_in(provisioned)


def submit(user: Client, **arguments: Any) -> dict[str, Any]:
    data = user.rpc("submit_job", {"task_name": f"model-{uuid.uuid4()}", **arguments}).execute().data
    return data[0] if isinstance(data, list) else data


def job(db: psycopg.Connection, job_id: str) -> dict[str, Any]:
    return call(db, "select * from public.job_results where job_id = %(j)s", {"j": job_id})[0]


def claim(db: psycopg.Connection, row: dict[str, Any]) -> dict[str, Any]:
    return call(db, "select * from public.mark_job_processing(%(j)s, %(m)s, 60)",
                {"j": row["job_id"], "m": row["msg_id"]})[0]


@pytest.mark.parametrize(("arguments", "argument", "words"), [
    ({"job_type": "no_such_type"}, "job_type", "not a known job type (known: echo, flaky, generate_report)"),
    ({"payload": [1, 2]}, "payload", "payload must be a JSON object, got array"),
    ({"payload": "text"}, "payload", "payload must be a JSON object, got string"),
    ({"payload": {"message": 5}}, "payload", "message must be a string, got number"),
    ({"payload": {"colour": "red"}}, "payload", "colour is not allowed (allowed: message)"),
    ({"payload": {"message": "x" * 1001}}, "payload", "message must be at most 1000 characters long"),
    ({"payload": {"message": "x" * 70_000}}, "payload", "the limit is 65536"),
    ({"job_type": "generate_report", "payload": {"sections": 0}}, "payload", "sections must be at least 1"),
    ({"job_type": "generate_report", "payload": {"sections": 2.5}}, "payload", "sections must be an integer"),
    ({"job_type": "generate_report", "payload": {"title": ""}}, "payload", "title must be at least 1"),
    ({"job_type": "flaky", "payload": {"failure_rate": 1.5}}, "payload", "failure_rate must be at most 1"),
    ({"priority": 101}, "priority", "priority must be between -100 and 100, got 101"),
    ({"priority": -101}, "priority", "priority must be between -100 and 100, got -101"),
    ({"delay_seconds": -1}, "delay_seconds", "delay_seconds must be between 0 and 2592000, got -1"),
    ({"delay_seconds": 2592001}, "delay_seconds", "delay_seconds must be between 0 and 2592000"),
    ({"max_attempts": 0}, "max_attempts", "max_attempts must be between 1 and 25, got 0"),
    ({"max_attempts": 26}, "max_attempts", "max_attempts must be between 1 and 25, got 26"),
    ({"timeout_seconds": 0}, "timeout_seconds", "timeout_seconds must be between 1 and 86400, got 0"),
    ({"timeout_seconds": 86401}, "timeout_seconds", "timeout_seconds must be between 1 and 86400"),
    ({"idempotency_key": " "}, "idempotency_key", "idempotency_key is empty"),
    ({"idempotency_key": "k" * 201}, "idempotency_key", "idempotency_key is 201 characters long"),
    ({"idempotency_key": "a\nb"}, "idempotency_key", "idempotency_key contains control characters"),
])
def test_each_bad_argument_is_refused_by_name_and_queues_nothing(user, db, arguments, argument, words):
    name = f"refused-{uuid.uuid4()}"
    with pytest.raises(APIError) as refused:
        user.rpc("submit_job", {"task_name": name, **arguments}).execute()
    assert refused.value.code == "22023"
    assert words in refused.value.message
    assert refused.value.details == f"argument: {argument}"
    assert count_rows(db, name) == (0, 0)


def test_the_prds_one_argument_call_makes_an_echo_job(user):
    row = submit(user)
    assert (row["job_type"], row["payload"], row["priority"], row["timeout_seconds"]) == ("echo", {}, 0, 300)


def test_a_full_job_is_stored_with_its_type_defaults(user, db):
    row = submit(user, job_type="generate_report", payload={"title": "Q3", "sections": 3}, priority=7,
                 max_attempts=2)
    assert (row["job_type"], row["payload"], row["priority"], row["max_attempts"], row["timeout_seconds"]) == (
        "generate_report", {"title": "Q3", "sections": 3}, 7, 2, 600)
    assert (row["status"], row["progress"], row["run_after"], row["cancelled_at"]) == ("pending", 0, None, None)
    assert message(db, "work_queue", row["msg_id"])["message"] == {
        "job_id": row["job_id"], "task_name": row["task_name"], "job_type": "generate_report", "priority": 7}


def test_concurrent_submits_with_one_key_make_one_job_and_one_message(user, db):
    key = f"order-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=20) as pool:
        rows = list(pool.map(lambda _: submit(user, idempotency_key=key, task_name="double click"), range(20)))
    assert len({row["job_id"] for row in rows}) == 1
    stored = call(db, "select job_id, msg_id from public.job_results where idempotency_key = %(k)s", {"k": key})
    assert len(stored) == 1
    queued = call(db, "select count(*) as n from pgmq.q_work_queue where message->>'job_id' = %(j)s",
                  {"j": str(stored[0]["job_id"])})
    assert queued[0]["n"] == 1


def test_a_key_comes_free_once_its_job_is_cancelled(user, db):
    key = f"retryable-{uuid.uuid4()}"
    first = submit(user, idempotency_key=key)
    call(db, "select public.cancel_job(%(j)s)", {"j": first["job_id"]})
    second = submit(user, idempotency_key=key)
    assert second["job_id"] != first["job_id"]
    assert submit(user, idempotency_key=key)["job_id"] == second["job_id"]


def test_pull_mode_takes_the_highest_priority_first(user, db):
    low = submit(user, priority=98)
    high = submit(user, priority=99)
    try:
        first = call(db, "select * from public.get_next_job(60)")[0]
        second = call(db, "select * from public.get_next_job(60)")[0]
        assert (str(first["job_id"]), str(second["job_id"])) == (high["job_id"], low["job_id"])
    finally:
        for row in (low, high):
            call(db, "select public.cancel_job(%(j)s)", {"j": row["job_id"]})


def test_a_delayed_job_waits_in_the_queue_until_run_after(user, db):
    row = submit(user, delay_seconds=3600)
    queued = message(db, "work_queue", row["msg_id"])
    assert row["status"] == "pending" and row["run_after"] is not None
    assert queued["vt"] == job(db, row["job_id"])["run_after"]
    assert claim_refused(db, row)
    not_yet = call(db, "select count(*) as n from jobqueue_private.deliveries where msg_id = %(m)s",
                   {"m": row["msg_id"]})
    assert not_yet[0]["n"] == 0  # due in an hour: the sweeper sends it shortly before


def claim_refused(db: psycopg.Connection, row: dict[str, Any]) -> bool:
    return call(db, "select * from public.mark_job_processing(%(j)s, %(m)s, 60)",
                {"j": row["job_id"], "m": row["msg_id"]}) == []


def test_a_soon_due_job_is_delivered_at_once_for_the_worker_to_hold(user, db):
    row = submit(user, delay_seconds=5)
    delivered = call(db, "select visible_at from jobqueue_private.deliveries where msg_id = %(m)s",
                     {"m": row["msg_id"]})
    assert delivered and delivered[0]["visible_at"] == job(db, row["job_id"])["run_after"]
    # The sweeper does not send it again before it comes due.
    call(db, "select public.sweep_work_queue()")
    again = call(db, "select deliveries from jobqueue_private.deliveries where msg_id = %(m)s", {"m": row["msg_id"]})
    assert again[0]["deliveries"] == 1


def test_cancel_pending_ends_it_at_once_and_its_message_leaves_the_queue(user, db):
    row = submit(user)
    cancelled = call(db, "select * from public.cancel_job(%(j)s)", {"j": row["job_id"]})[0]
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    assert message(db, "work_queue", row["msg_id"]) is None
    assert call(db, "select count(*) as n from pgmq.a_work_queue where msg_id = %(m)s", {"m": row["msg_id"]})[0]["n"]
    assert claim_refused(db, row)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        call(db, "update public.job_results set status = 'pending' where job_id = %(j)s", {"j": row["job_id"]})


def test_cancel_running_is_a_request_the_worker_completes(user, db):
    row = submit(user)
    claim(db, row)
    requested = call(db, "select * from public.cancel_job(%(j)s)", {"j": row["job_id"]})[0]
    assert requested["status"] == "processing" and requested["cancelled_at"] is not None
    asked = call(db, "select public.job_cancel_requests(array[%(j)s, gen_random_uuid()]::uuid[]) as ids",
                 {"j": row["job_id"]})[0]["ids"]
    assert [str(job_id) for job_id in asked] == [row["job_id"]]
    # The task got to the end first: the job still ends cancelled, never completed.
    ended = call(db, "select * from public.mark_job_completed(%(j)s, 'done anyway')", {"j": row["job_id"]})[0]
    assert (ended["status"], ended["result"]) == ("cancelled", None)
    assert message(db, "work_queue", row["msg_id"]) is None


def test_cancel_after_the_end_changes_nothing_and_an_unknown_job_is_refused(user, db):
    row = submit(user)
    claim(db, row)
    call(db, "select * from public.mark_job_completed(%(j)s, 'fine', '{\"ok\": true}')", {"j": row["job_id"]})
    again = call(db, "select * from public.cancel_job(%(j)s)", {"j": row["job_id"]})[0]
    assert (again["status"], again["cancelled_at"], again["output"]) == ("completed", None, {"ok": True})
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="no job has job_id"):
        call(db, "select * from public.cancel_job(gen_random_uuid())")


def test_progress_is_written_while_running_and_checked(user, db):
    row = submit(user, job_type="generate_report")
    assert call(db, "select public.report_job_progress(%(j)s, 10, 'early') as ok", {"j": row["job_id"]})[0]["ok"] \
        is False
    claim(db, row)
    assert call(db, "select public.report_job_progress(%(j)s, 40, 'section 2') as ok",
                {"j": row["job_id"]})[0]["ok"] is True
    before = job(db, row["job_id"])
    call(db, "select public.report_job_progress(%(j)s, 40, 'section 2')", {"j": row["job_id"]})
    assert job(db, row["job_id"])["updated_at"] == before["updated_at"]  # an unchanged value writes nothing
    assert (before["progress"], before["progress_message"]) == (40, "section 2")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="progress must be between 0 and 100"):
        call(db, "select public.report_job_progress(%(j)s, 101)", {"j": row["job_id"]})


def test_a_job_of_its_own_attempt_limit_is_dead_lettered_by_it(user, db):
    row = submit(user, max_attempts=1)
    claim(db, row)
    failed = call(db, "select * from public.mark_job_failed(%(j)s, 'boom', 0, 5)", {"j": row["job_id"]})[0]
    assert failed["status"] == "failed"


def test_a_permanent_failure_is_dead_lettered_at_once(user, db):
    row = submit(user, max_attempts=5)
    claim(db, row)
    failed = call(db, "select * from public.mark_job_failed(%(j)s, 'bad payload', 0, 5, true)",
                  {"j": row["job_id"]})[0]
    assert (failed["status"], failed["attempts"]) == ("failed", 1)


def test_a_full_queue_refuses_with_429_and_queues_nothing(user, db):
    waiting = call(db, "select count(*) as n from pgmq.q_work_queue")[0]["n"]
    call(db, "update jobqueue_private.settings set value = %(n)s where key = 'max_waiting_jobs'", {"n": str(waiting)})
    name = f"too-many-{uuid.uuid4()}"
    try:
        with pytest.raises(APIError) as refused:
            user.rpc("submit_job", {"task_name": name}).execute()
    finally:
        call(db, "update jobqueue_private.settings set value = '10000' where key = 'max_waiting_jobs'")
    assert refused.value.code == "PT429"
    assert "queue is full" in refused.value.message and "retry later" in refused.value.hint
    assert count_rows(db, name) == (0, 0)


def test_everyone_reads_job_types_and_stats(anon, user):
    submit(user)
    types = anon.table("job_types").select("name, payload_schema").order("name").execute().data
    assert [row["name"] for row in types] == ["echo", "flaky", "generate_report"]
    assert all(row["payload_schema"]["type"] == "object" for row in types)
    stats = anon.table("job_stats").select("*").execute().data
    assert any(row["job_type"] == "echo" for row in stats)


@pytest.mark.parametrize(("rpc", "arguments"), [
    ("cancel_job", {"job_id": str(uuid.UUID(int=1))}),
    ("report_job_progress", {"job_id": str(uuid.UUID(int=1)), "progress": 5}),
    ("job_cancel_requests", {"job_ids": [str(uuid.UUID(int=1))]}),
])
def test_anon_key_is_refused_on_operator_and_worker_rpcs(anon, rpc, arguments):
    with pytest.raises(APIError) as refused:
        anon.rpc(rpc, arguments).execute()
    assert refused.value.code == "42501"


def client_at(provisioned: Settings, address: str, key: str | None = None) -> Client:
    """A client whose requests claim to come from ``address`` (x-forwarded-for, which a client may set at will)."""
    options = ClientOptions(headers={"x-forwarded-for": f"{address}, 10.0.0.1"})
    return create_client(provisioned.supabase_url, key or provisioned.anon_key, options)


def test_one_user_past_their_rate_is_refused_while_others_go_on(provisioned: Settings, db):
    """The limit keys on the signed-in user: another user from the same address goes on, and so does the service
    role."""
    call(db, "update jobqueue_private.settings set value = '3' where key = 'max_submits_per_client_per_minute'")
    address = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    noisy, other = client_at(provisioned, address), client_at(provisioned, address)
    noisy_id = noisy.auth.sign_in_anonymously().user.id
    other.auth.sign_in_anonymously()
    outcomes = []
    try:
        for _ in range(8):  # eight in a row: at least one minute window holds four of them, whatever the clock
            try:
                submit(noisy)
                outcomes.append("queued")
            except APIError as err:
                outcomes.append(err.code)
                assert f"too many jobs from user {noisy_id}" in err.message and "retry in a minute" in err.hint
        submit(other)
        submit(client_at(provisioned, address, provisioned.service_role_key))
    finally:
        call(db, "update jobqueue_private.settings set value = '600' "
                 "where key = 'max_submits_per_client_per_minute'")
    assert outcomes[:3] == ["queued"] * 3
    assert "PT429" in outcomes and outcomes.count("queued") <= 6
