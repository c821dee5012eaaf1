"""The worker-side functions: leases, double delivery, completion, retries, dead letters, pull mode, cleanup."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.schema_helpers import call, claim, expire_lease, fail, message, submit

pytestmark = pytest.mark.usefixtures("provisioned")


def complete(db: psycopg.Connection, job: dict, result: str = "done") -> list[dict]:
    return call(db, "select * from public.mark_job_completed(%(j)s, %(r)s)", {"j": job["job_id"], "r": result})


def test_claim_leases_the_message_and_marks_processing(db):
    job = submit(db)
    [claimed] = claim(db, job, lease=120)
    assert claimed["status"] == "processing"
    assert claimed["attempts"] == 1
    assert claimed["started_at"] is not None
    leased = call(db, "select vt > now() + interval '100 seconds' as leased, read_ct from pgmq.q_work_queue "
                      "where msg_id = %(m)s", {"m": job["msg_id"]})[0]
    assert leased == {"leased": True, "read_ct": 1}


def test_double_delivery_claims_once(db):
    """A second webhook for the same message while the lease holds gets nothing."""
    job = submit(db)
    assert len(claim(db, job)) == 1
    assert claim(db, job) == []
    assert call(db, "select attempts from job_results where job_id = %(j)s", {"j": job["job_id"]})[0]["attempts"] == 1


def test_expired_lease_can_be_claimed_again(db):
    job = submit(db)
    claim(db, job)
    expire_lease(db, job["msg_id"])
    [again] = claim(db, job)
    assert again["attempts"] == 2
    assert again["status"] == "processing"


def flush(db: psycopg.Connection, claims: list[dict], completions: list[dict]) -> list[dict]:
    return call(db, "select * from public.mark_jobs(%(c)s, %(d)s, 60)",
                {"c": Jsonb(claims), "d": Jsonb(completions)})


def test_one_flush_claims_some_jobs_and_completes_others(db):
    running, fresh = submit(db), submit(db)
    claim(db, running)
    rows = flush(db, [{"job_id": str(fresh["job_id"]), "msg_id": fresh["msg_id"]}],
                 [{"job_id": str(running["job_id"]), "result": "done", "output": {"n": 1}}])
    assert {row["job_id"]: (row["status"], row["output"]) for row in rows} == {
        running["job_id"]: ("completed", {"n": 1}), fresh["job_id"]: ("processing", None)}
    assert message(db, "work_queue", running["msg_id"]) is None
    archived = call(db, "select count(*) as n from pgmq.a_work_queue where msg_id = %(m)s", {"m": running["msg_id"]})
    assert archived == [{"n": 1}]


def test_a_flush_refuses_a_list_that_is_not_an_array_and_changes_nothing(db):
    job = submit(db)
    with pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
        flush(db, [{"job_id": str(job["job_id"]), "msg_id": job["msg_id"]}], {"job_id": str(job["job_id"])})
    assert refused.value.diag.message_detail == "argument: completions"
    assert call(db, "select status from job_results where job_id = %(j)s", {"j": job["job_id"]}) == [
        {"status": "pending"}]


def test_claim_refuses_a_message_of_another_job(db):
    first, second = submit(db), submit(db)
    assert claim(db, {"job_id": first["job_id"], "msg_id": second["msg_id"]}) == []


def test_complete_archives_and_is_terminal(db):
    job = submit(db)
    claim(db, job)
    [done] = complete(db, job, "42")
    assert (done["status"], done["result"], done["error"]) == ("completed", "42", None)
    assert done["completed_at"] is not None
    assert message(db, "work_queue", job["msg_id"]) is None
    archived = call(db, "select message from pgmq.a_work_queue where msg_id = %(m)s", {"m": job["msg_id"]})
    assert archived[0]["message"]["job_id"] == str(job["job_id"])
    assert complete(db, job, "other") == []
    assert claim(db, job) == []
    assert fail(db, job) == []
    row = call(db, "select status, result from job_results where job_id = %(j)s", {"j": job["job_id"]})[0]
    assert row == {"status": "completed", "result": "42"}


def test_finished_rows_cannot_be_changed_directly(db):
    job = submit(db)
    claim(db, job)
    complete(db, job)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="cannot change"):
        call(db, "update job_results set status = 'pending' where job_id = %(j)s", {"j": job["job_id"]})


def test_failure_with_attempts_left_retries_after_backoff(db):
    job = submit(db)
    claim(db, job)
    [row] = fail(db, job, "flaky", retry_in=300, max_attempts=3)
    assert (row["status"], row["error"], row["attempts"]) == ("pending", "flaky", 1)
    msg = message(db, "work_queue", job["msg_id"])
    assert msg is not None
    assert call(db, "select %(vt)s > now() + interval '200 seconds' as later", {"vt": msg["vt"]})[0]["later"]
    assert claim(db, job) == []


def test_failure_on_last_attempt_dead_letters(db):
    job = submit(db, "fails for good")
    claim(db, job)
    [row] = fail(db, job, "broken for good", max_attempts=1)
    assert (row["status"], row["error"]) == ("failed", "broken for good")
    assert message(db, "work_queue", job["msg_id"]) is None
    letters = call(db, "select message from pgmq.q_work_queue_dlq where message->>'job_id' = %(j)s",
                   {"j": str(job["job_id"])})
    assert letters[0]["message"]["task_name"] == "fails for good"
    assert letters[0]["message"]["error"] == "broken for good"
    assert fail(db, job) == []


def test_default_max_attempts_comes_from_the_settings(db):
    limit = int(call(db, "select value from jobqueue_private.settings where key = 'max_attempts'")[0]["value"])
    job = submit(db)
    for _ in range(limit):
        expire_lease(db, job["msg_id"])
        claim(db, job)
        [row] = fail(db, job)
    assert row["status"] == "failed"
    assert row["attempts"] == limit


def test_retry_failed_jobs_puts_dead_letters_back(db):
    job = submit(db, "second chance")
    claim(db, job)
    fail(db, job, "first try failed", max_attempts=1)
    retried = call(db, "select public.retry_failed_jobs() as n")[0]["n"]
    assert retried >= 1
    row = call(db, "select * from job_results where job_id = %(j)s", {"j": job["job_id"]})[0]
    assert (row["status"], row["attempts"], row["error"]) == ("pending", 0, None)
    assert row["msg_id"] != job["msg_id"]
    fresh = message(db, "work_queue", row["msg_id"])
    assert fresh["message"] == {"job_id": str(job["job_id"]), "task_name": "second chance", "job_type": "echo",
                                "priority": 0}
    left = call(db, "select count(*) as n from pgmq.q_work_queue_dlq where message->>'job_id' = %(j)s",
                {"j": str(job["job_id"])})
    assert left[0]["n"] == 0


def dead_letter(db: psycopg.Connection, name: str, job_type: str = "echo") -> dict:
    job = call(db, "select * from public.submit_job(%(n)s, job_type => %(t)s)", {"n": name, "t": job_type})[0]
    claim(db, job)
    fail(db, job, "gave up", max_attempts=1)
    return job


def letters(db: psycopg.Connection, *jobs: dict) -> int:
    return call(db, "select count(*) as n from pgmq.q_work_queue_dlq where (message->>'job_id')::uuid = any(%(j)s)",
                {"j": [job["job_id"] for job in jobs]})[0]["n"]


def status(db: psycopg.Connection, job: dict) -> str:
    return call(db, "select status from job_results where job_id = %(j)s", {"j": job["job_id"]})[0]["status"]


def test_retry_failed_jobs_takes_only_the_job_type_asked_for(db):
    with db.transaction(force_rollback=True):
        echo, flaky = dead_letter(db, "an echo"), dead_letter(db, "a flaky one", "flaky")
        retried = call(db, "select public.retry_failed_jobs(job_type => 'flaky', since => now()) as n")[0]["n"]
        assert retried == 1
        assert (status(db, echo), status(db, flaky)) == ("failed", "pending")
        assert (letters(db, echo), letters(db, flaky)) == (1, 0)


def test_retry_failed_jobs_takes_only_the_ids_and_the_time_asked_for(db):
    with db.transaction(force_rollback=True):
        first, second = dead_letter(db, "first"), dead_letter(db, "second")
        later = call(db, "select public.retry_failed_jobs(since => now() + interval '1 second') as n")[0]["n"]
        assert later == 0 and letters(db, first, second) == 2
        retried = call(db, "select public.retry_failed_jobs(job_ids => %(ids)s) as n",
                       {"ids": [second["job_id"]]})[0]["n"]
        assert retried == 1
        assert (status(db, first), status(db, second)) == ("failed", "pending")
        assert call(db, "select public.retry_failed_jobs(job_ids => '{}') as n")[0]["n"] == 0


def test_retry_failed_jobs_refuses_an_unknown_job_type(db):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="job_type 'nope' is not a known job type") as err:
        db.execute("select public.retry_failed_jobs(job_type => 'nope')")
    assert err.value.diag.message_detail == "argument: job_type"


def test_extend_job_lease_moves_the_visibility_timeout(db):
    job = submit(db)
    claim(db, job, lease=5)
    assert call(db, "select public.extend_job_lease(%(j)s, 600) as ok", {"j": job["job_id"]})[0]["ok"] is True
    msg = message(db, "work_queue", job["msg_id"])
    assert call(db, "select %(vt)s > now() + interval '500 seconds' as later", {"vt": msg["vt"]})[0]["later"]
    complete(db, job)
    assert call(db, "select public.extend_job_lease(%(j)s, 600) as ok", {"j": job["job_id"]})[0]["ok"] is False


def test_get_next_job_claims_the_highest_priority_then_the_oldest_visible_message(db):
    """The session database may hold other tests' unclaimed jobs of any priority: the order is checked over all."""
    job = submit(db, "pulled")
    seen: list[dict] = []
    while True:
        rows = call(db, "select * from public.get_next_job(120)")
        if not rows:
            break
        [row] = rows
        assert row["status"] == "processing"
        assert message(db, "work_queue", row["msg_id"])["read_ct"] >= 1
        seen.append(row)
        if row["job_id"] == job["job_id"]:
            break
    assert seen[-1]["job_id"] == job["job_id"]
    order = [(-row["priority"], row["msg_id"]) for row in seen]
    assert order == sorted(order)


def test_cleanup_old_jobs_removes_only_old_finished_rows(db, admin_db):
    old, recent, running = submit(db), submit(db), submit(db)
    for job in (old, recent):
        claim(db, job)
        complete(db, job)
    with admin_db.transaction():
        admin_db.execute("set local session_replication_role = replica")  # an old row, as a restore would write it
        admin_db.execute("update job_results set completed_at = now() - interval '40 days' where job_id = %(j)s",
                         {"j": old["job_id"]})
    removed = call(db, "select public.cleanup_old_jobs(30) as n")[0]["n"]
    assert removed >= 1
    left = {row["job_id"] for row in call(db, "select job_id from job_results where job_id = any(%(ids)s)",
                                          {"ids": [old["job_id"], recent["job_id"], running["job_id"]]})}
    assert left == {recent["job_id"], running["job_id"]}
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="keep_days"):
        call(db, "select public.cleanup_old_jobs(-1)")
