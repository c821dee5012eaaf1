"""Private jobs, through the official clients: a job belongs to the user who submitted it. User A never gets user B's
job by REST, by ``postgres_changes`` or by the broadcast topic, and cannot join B's topic; the bare anon key reads
nothing and cannot submit; the service role sees every job; idempotency keys and cancelling are per user."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import AsyncClient, Client, acreate_client, create_client

from jobqueue.settings import Settings
from supabase_local.testing import Inbox, record
from tests.schema_helpers import call, claim, count_rows, fail
from tests.users import asigned_in, signed_in, user_id

pytestmark = pytest.mark.usefixtures("provisioned")

MakeUser = Callable[[], Awaitable[AsyncClient]]


def submit(client: Client, **arguments: Any) -> dict[str, Any]:
    data = client.rpc("submit_job", {"task_name": f"private-{uuid.uuid4()}", **arguments}).execute().data
    return data[0] if isinstance(data, list) else data


def read(client: Client, job_id: str) -> list[dict[str, Any]]:
    return client.table("job_results").select("job_id, user_id").eq("job_id", job_id).execute().data


@pytest.fixture
def anna(provisioned: Settings) -> Client:
    return signed_in(provisioned)


@pytest.fixture
def ben(provisioned: Settings) -> Client:
    return signed_in(provisioned)


@pytest.fixture(scope="module")
def anon(provisioned: Settings) -> Client:
    return create_client(provisioned.supabase_url, provisioned.anon_key)


@pytest.fixture(scope="module")
def service(provisioned: Settings) -> Client:
    return create_client(provisioned.supabase_url, provisioned.service_role_key)


@pytest.fixture
async def users(provisioned: Settings) -> AsyncIterator[MakeUser]:
    """A maker of async clients, each signed in as a new anonymous user; their channels go afterwards."""
    made: list[AsyncClient] = []

    async def make() -> AsyncClient:
        made.append(await asigned_in(provisioned))
        return made[-1]

    yield make
    for client in made:
        await client.realtime.remove_all_channels()


def test_the_bare_anon_key_cannot_submit_and_is_told_to_sign_in(anon: Client, db: psycopg.Connection) -> None:
    name = f"anon-{uuid.uuid4()}"
    with pytest.raises(APIError) as refused:
        anon.rpc("submit_job", {"task_name": name}).execute()
    assert refused.value.code == "42501"
    assert "needs a signed-in user" in refused.value.message
    assert "sign_in_anonymously" in refused.value.hint and "nothing was queued" in refused.value.hint
    assert count_rows(db, name) == (0, 0)


def test_a_signed_in_user_submits_jobs_that_are_theirs(anna: Client, db: psycopg.Connection) -> None:
    job = submit(anna)
    assert job["user_id"] == user_id(anna)
    assert read(anna, job["job_id"]) == [{"job_id": job["job_id"], "user_id": user_id(anna)}]
    assert call(db, "select user_id::text from public.job_results where job_id = %(j)s",
                {"j": job["job_id"]}) == [{"user_id": user_id(anna)}]


def test_users_read_only_their_own_jobs_and_anon_reads_none(anna: Client, ben: Client, anon: Client,
                                                            service: Client, db: psycopg.Connection) -> None:
    mine, theirs = submit(anna), submit(ben)
    operators = call(db, "select job_id::text from public.submit_job('no user')")[0]["job_id"]
    assert read(ben, mine["job_id"]) == [] and read(anna, theirs["job_id"]) == []
    assert read(anna, operators) == [] and read(anon, mine["job_id"]) == []
    assert {row["user_id"] for row in anna.table("job_results").select("user_id").execute().data} == {user_id(anna)}
    assert anon.table("job_results").select("job_id").limit(1).execute().data == []
    assert {row["job_id"] for row in service.table("job_results").select("job_id")
            .in_("job_id", [mine["job_id"], theirs["job_id"], operators]).execute().data} == {
        mine["job_id"], theirs["job_id"], operators}


def test_job_stats_count_everyones_jobs_as_aggregates(anna: Client, anon: Client, service: Client) -> None:
    submit(anna, job_type="generate_report")

    def pending_reports(client: Client) -> int:
        rows = client.table("job_stats").select("jobs").eq("job_type", "generate_report").eq("status", "pending") \
            .execute().data
        return rows[0]["jobs"] if rows else 0

    assert pending_reports(anon) == pending_reports(service) >= 1
    assert set(anon.table("job_stats").select("*").limit(1).execute().data[0]) >= {"job_type", "status", "jobs"}
    assert "user_id" not in anon.table("job_stats").select("*").limit(1).execute().data[0]


def test_a_user_cancels_their_own_job_and_not_anothers(anna: Client, ben: Client, anon: Client,
                                                       service: Client) -> None:
    mine, theirs = submit(anna), submit(ben)
    with pytest.raises(APIError) as refused:
        anna.rpc("cancel_job", {"job_id": theirs["job_id"]}).execute()
    assert refused.value.code == "22023" and "no job has job_id" in refused.value.message
    with pytest.raises(APIError) as anonymous:
        anon.rpc("cancel_job", {"job_id": mine["job_id"]}).execute()
    assert anonymous.value.code == "42501"
    assert anna.rpc("cancel_job", {"job_id": mine["job_id"]}).execute().data["status"] == "cancelled"
    assert service.rpc("cancel_job", {"job_id": theirs["job_id"]}).execute().data["status"] == "cancelled"


def test_idempotency_keys_are_per_user(anna: Client, ben: Client, service: Client) -> None:
    key = f"key-{uuid.uuid4()}"
    first, again, bens = submit(anna, idempotency_key=key), submit(anna, idempotency_key=key), \
        submit(ben, idempotency_key=key)
    assert first["job_id"] == again["job_id"] != bens["job_id"]
    operator, operator_again = submit(service, idempotency_key=key), submit(service, idempotency_key=key)
    assert operator["job_id"] == operator_again["job_id"] not in (first["job_id"], bens["job_id"])
    assert operator["user_id"] is None


def test_a_retried_job_keeps_its_key_when_only_another_user_holds_it(anna: Client, ben: Client,
                                                                     db: psycopg.Connection) -> None:
    key = f"key-{uuid.uuid4()}"
    failed, bens = submit(anna, idempotency_key=key), submit(ben, idempotency_key=key)
    claim(db, failed)
    fail(db, failed, "gave up", max_attempts=1)
    assert call(db, "select public.retry_failed_jobs(job_ids => %(ids)s) as n", {"ids": [failed["job_id"]]}) == [
        {"n": 1}]
    assert submit(anna, idempotency_key=key)["job_id"] == failed["job_id"] != bens["job_id"]


def test_deleting_a_user_deletes_their_jobs(anna: Client, service: Client, db: psycopg.Connection) -> None:
    job = submit(anna)
    service.auth.admin.delete_user(user_id(anna))
    assert call(db, "select count(*) as n from public.job_results where job_id = %(j)s", {"j": job["job_id"]}) == [
        {"n": 0}]


async def submit_async(client: AsyncClient, name: str) -> str:
    data = (await client.rpc("submit_job", {"task_name": name}).execute()).data
    return (data[0] if isinstance(data, list) else data)["job_id"]


async def join(client: AsyncClient, topic: str, inbox: Inbox) -> str:
    """Join the private broadcast ``topic``; the first subscribe state."""
    states = Inbox()
    channel = client.channel(topic, {"config": {"private": True}}).on_broadcast("*", inbox)
    await channel.subscribe(lambda state, error: states(str(state.value)))
    return await states.next()


async def watch_changes(client: AsyncClient, inbox: Inbox) -> None:
    """Subscribe ``inbox`` to ``postgres_changes`` on job_results."""
    states = Inbox()
    channel = client.channel(f"jobs-{uuid.uuid4().hex[:8]}").on_postgres_changes(
        "*", schema="public", table="job_results", callback=inbox)
    await channel.subscribe(lambda state, error: states(str(state.value)))
    assert await states.next() == "SUBSCRIBED"


async def test_postgres_changes_deliver_only_a_users_own_jobs(users: MakeUser, provisioned: Settings) -> None:
    anna, ben = await users(), await users()
    service = await acreate_client(provisioned.supabase_url, provisioned.service_role_key)
    annas, operators = Inbox(), Inbox()
    try:
        await watch_changes(anna, annas)
        await watch_changes(service, operators)
        bens_job = await submit_async(ben, "ben's")
        annas_job = await submit_async(anna, "anna's")
        seen = await annas.until(lambda payload: record(payload).get("job_id") == annas_job)
        assert all(record(payload).get("job_id") != bens_job for payload in seen)
        both = await operators.until(lambda payload: record(payload).get("job_id") == annas_job)
        assert bens_job in {record(payload).get("job_id") for payload in both}
    finally:
        await service.realtime.remove_all_channels()


async def test_the_broadcast_topic_carries_only_a_users_own_jobs(users: MakeUser) -> None:
    anna, ben = await users(), await users()
    annas_id = (await anna.auth.get_session()).user.id
    inbox = Inbox()
    assert await join(anna, f"jobs:{annas_id}", inbox) == "SUBSCRIBED"
    bens_job = await submit_async(ben, "ben's")
    annas_job = await submit_async(anna, "anna's")
    seen = await inbox.until(lambda message: message["payload"]["record"]["job_id"] == annas_job)
    assert all(message["payload"]["record"]["job_id"] != bens_job for message in seen)
    inserted = seen[-1]
    assert inserted["event"] == "INSERT"
    body = inserted["payload"]
    assert (body["operation"], body["table"], body["schema"]) == ("INSERT", "job_results", "public")
    assert body["record"]["user_id"] == annas_id and body["old_record"] is None
    await anna.rpc("cancel_job", {"job_id": annas_job}).execute()
    cancelled = await inbox.until(lambda message: message["event"] == "UPDATE"
                                  and message["payload"]["record"]["status"] == "cancelled")
    assert cancelled[-1]["payload"]["old_record"]["status"] == "pending"


async def test_nobody_joins_another_users_topic(users: MakeUser, provisioned: Settings) -> None:
    anna, ben = await users(), await users()
    annas_topic = f"jobs:{(await anna.auth.get_session()).user.id}"
    assert await join(ben, annas_topic, Inbox()) == "CHANNEL_ERROR"
    anon = await acreate_client(provisioned.supabase_url, provisioned.anon_key)
    try:
        assert await join(anon, annas_topic, Inbox()) == "CHANNEL_ERROR"
    finally:
        await anon.realtime.remove_all_channels()
