"""A signed-in user (authenticated) may read their jobs, submit and cancel their own; anon reads none and may not
submit; and neither may do anything else of the project's: not through the REST API, and not even with a direct
database session in their role. (What the platform itself
grants them, such as pg_net's functions, postgres cannot take back; provisioning reports it, see
test_provision.)"""

from __future__ import annotations

import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import Client, create_client

from jobqueue.settings import Settings
from tests.schema_helpers import as_role, call, submit
from tests.users import signed_in, user_id

pytestmark = pytest.mark.usefixtures("provisioned")

FORBIDDEN_SQL = [
    "insert into public.job_results (task_name) values ('direct')",
    "update public.job_results set status = 'completed'",
    "delete from public.job_results",
    "select * from public.mark_job_processing(gen_random_uuid(), 1, 60)",
    "select public.extend_job_lease(gen_random_uuid(), 60)",
    "select * from public.mark_job_completed(gen_random_uuid(), 'x')",
    "select * from public.mark_jobs('[]', '[]', 60)",
    "select * from public.mark_job_failed(gen_random_uuid(), 'x', 0, null)",
    "select * from public.get_next_job(60)",
    "select public.retry_failed_jobs()",
    "select public.retry_failed_jobs(job_type => 'echo', since => now(), job_ids => '{}')",
    "select public.cleanup_old_jobs(0)",
    "select public.sweep_work_queue()",
    "select * from pgmq.send('work_queue', '{}'::jsonb)",
    "select * from pgmq.read('work_queue', 30, 10)",
    "select * from pgmq.q_work_queue",
    "select * from pgmq.a_work_queue_dlq",
    "select * from pgmq.list_queues()",
    "select * from pgmq_public.send('work_queue', '{}'::jsonb, 0)",
    "select * from pgmq_public.read('work_queue', 30, 10)",
    "select * from pgmq_public.pop('work_queue')",
    "select * from net.http_request_queue",
    "select * from net._http_response",
    "select cron.schedule('x', '* * * * *', 'select 1')",
    "select * from cron.job",
    "select * from jobqueue_private.settings",
    "select * from jobqueue_private.deliveries",
    "select jobqueue_private.setting('webhook_secret')",
    "select jobqueue_private.deliver(1, '{}'::jsonb)",
    "select public.report_job_progress(gen_random_uuid(), 5, 'x')",
    "select public.job_cancel_requests(array[gen_random_uuid()])",
    "select * from public.mark_job_cancelled(gen_random_uuid())",
    "select * from public.mark_job_completed(gen_random_uuid(), 'x', '{}')",
    "select * from public.mark_job_failed(gen_random_uuid(), 'x', 0, null, true)",
    "insert into public.job_types (name) values ('mine')",
    "update public.job_types set priority = 100",
    "delete from public.job_types",
    "update public.job_results set cancelled_at = now()",
]


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("statement", FORBIDDEN_SQL)
def test_api_roles_are_denied_in_the_database(db, role, statement):
    with as_role(db, role) as cur, pytest.raises(psycopg.errors.InsufficientPrivilege):
        cur.execute(statement)


def test_anon_may_not_cancel_in_the_database(db):
    with as_role(db, "anon") as cur, pytest.raises(psycopg.errors.InsufficientPrivilege):
        cur.execute("select public.cancel_job(gen_random_uuid())")


@pytest.mark.parametrize("claims", [None, {"role": "anon"}, {"role": "authenticated"}])
@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_api_roles_without_a_user_may_not_submit(db, role, claims):
    with as_role(db, role, claims) as cur, pytest.raises(psycopg.errors.InsufficientPrivilege,
                                                         match="needs a signed-in user"):
        cur.execute("select * from public.submit_job('refused')")


def test_a_user_may_read_their_jobs_and_submit(db, provisioned):
    user = signed_in(provisioned)
    with as_role(db, "authenticated", {"role": "authenticated", "sub": user_id(user)}) as cur:
        cur.execute("select * from public.submit_job('allowed')")
        job = cur.fetchone()
        cur.execute("select status, user_id::text from public.job_results where job_id = %(j)s", {"j": job["job_id"]})
        assert cur.fetchone() == {"status": "pending", "user_id": user_id(user)}


@pytest.fixture(scope="module")
def anon(provisioned: Settings) -> Client:
    return create_client(provisioned.supabase_url, provisioned.anon_key)


@pytest.fixture(scope="module")
def service(provisioned: Settings) -> Client:
    return create_client(provisioned.supabase_url, provisioned.service_role_key)


REST_JOB = "00000000-0000-0000-0000-000000000000"
FORBIDDEN_RPC = [
    ("mark_job_processing", {"job_id": REST_JOB, "msg_id": 1, "lease_seconds": 60}),
    ("extend_job_lease", {"job_id": REST_JOB, "lease_seconds": 60}),
    ("mark_job_completed", {"job_id": REST_JOB, "result": "x"}),
    ("mark_jobs", {"claims": [{"job_id": REST_JOB, "msg_id": 1}], "completions": [], "lease_seconds": 60}),
    ("mark_job_failed", {"job_id": REST_JOB, "error": "x", "retry_in_seconds": 0, "max_attempts": 1}),
    ("get_next_job", {"lease_seconds": 60}),
    ("retry_failed_jobs", {}),
    ("cleanup_old_jobs", {"keep_days": 0}),
    ("sweep_work_queue", {}),
]


@pytest.mark.parametrize(("function", "args"), FORBIDDEN_RPC)
def test_anon_cannot_call_worker_functions_over_rest(anon, function, args):
    with pytest.raises(APIError):
        anon.rpc(function, args).execute()


def test_anon_cannot_write_job_results_over_rest(anon, db):
    job = submit(db, "not yours")
    with pytest.raises(APIError):
        anon.table("job_results").insert({"task_name": "forged", "status": "completed"}).execute()
    with pytest.raises(APIError):
        anon.table("job_results").update({"status": "completed"}).eq("job_id", str(job["job_id"])).execute()
    with pytest.raises(APIError):
        anon.table("job_results").delete().eq("job_id", str(job["job_id"])).execute()
    assert anon.table("job_results").select("status").eq("job_id", str(job["job_id"])).execute().data == []
    assert call(db, "select status from public.job_results where job_id = %(j)s", {"j": job["job_id"]}) == [
        {"status": "pending"}]


@pytest.mark.parametrize(("function", "args"), [
    ("send", {"queue_name": "work_queue", "message": {"job_id": REST_JOB, "task_name": "x"}, "sleep_seconds": 0}),
    ("read", {"queue_name": "work_queue", "sleep_seconds": 30, "n": 10}),
    ("pop", {"queue_name": "work_queue"}),
])
def test_anon_cannot_use_the_queue_over_rest(anon, function, args):
    with pytest.raises(APIError):
        anon.schema("pgmq_public").rpc(function, args).execute()


def test_private_settings_are_not_exposed_over_rest(anon, service):
    for client in (anon, service):
        with pytest.raises(APIError):
            client.schema("jobqueue_private").table("settings").select("*").execute()


def test_service_role_drives_a_job_over_rest(service, db):
    """The worker's path: claim and complete through supabase-py with the service-role key."""
    job = submit(db, "worker path")
    claimed = service.rpc("mark_job_processing", {"job_id": str(job["job_id"]), "msg_id": job["msg_id"],
                                                  "lease_seconds": 60}).execute().data
    assert [row["status"] for row in claimed] == ["processing"]
    assert service.rpc("mark_job_processing", {"job_id": str(job["job_id"]), "msg_id": job["msg_id"],
                                               "lease_seconds": 60}).execute().data == []
    done = service.rpc("mark_job_completed", {"job_id": str(job["job_id"]), "result": "ok"}).execute().data
    assert [(row["status"], row["result"]) for row in done] == [("completed", "ok")]
    assert service.rpc("mark_job_completed", {"job_id": str(job["job_id"]), "result": "again"}).execute().data == []
