"""The queues lab's schema: the like's fan-out in one transaction, its refusals as 4xx, batch acknowledgements,
dead letters and their replay, archive retention, the cron schedules, and anon fenced out of all but the like
and the feed's reads."""

from __future__ import annotations

import json
import uuid

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb
from supabase import Client, create_client

from jobqueue.settings import Settings, webhook_key
from tests.schema_helpers import as_role, call
from worker.consumers.token import consumer_token

pytestmark = pytest.mark.usefixtures("provisioned")

QUEUES = ("like_events", "notifications", "analytics")


@pytest.fixture(scope="module")
def anon(provisioned: Settings) -> Client:
    return create_client(provisioned.supabase_url, provisioned.anon_key)


def new_post(db: psycopg.Connection, owner: uuid.UUID | None = None) -> str:
    return str(db.execute("insert into public.posts (profile_id, caption) values (%s, 'a sunset') returning id",
                          (owner or uuid.uuid4(),)).fetchone()[0])


def queued(db: psycopg.Connection, queue: str, post_id: str) -> list[dict]:
    return [row["message"] for row in call(db, sql.SQL(
        "select message from pgmq.{} where message->>'post_id' = %(p)s order by msg_id").format(
        sql.Identifier(f"q_{queue}")).as_string(db), {"p": post_id})]


def test_a_like_fans_out_into_three_queues_and_an_unlike_into_two(db, anon):
    owner = uuid.uuid4()
    post = new_post(db, owner)
    liked = anon.rpc("toggle_post_like", {"p_post_id": post, "p_session_id": "session-1"}).execute().data
    assert liked == {"success": True, "isLiked": True, "newLikeCount": 1}
    [event] = queued(db, "like_events", post)
    assert event["event_type"] == "like" and event["event_value"] == 1
    assert event["post_owner_id"] == str(owner) and event["post_caption"] == "a sunset"
    assert event["liker_session_id"] == "session-1" and event["new_like_count"] == 1
    assert event["metadata"] == {"source": "toggle_post_like", "role": "anon"}
    [note] = queued(db, "notifications", post)
    assert note["type"] == "new_like" and note["recipient_id"] == str(owner)
    [analytic] = queued(db, "analytics", post)
    assert analytic["event"] == "like" and analytic["new_count"] == 1
    assert len({event["event_id"], note["event_id"], analytic["event_id"]}) == 3

    unliked = anon.rpc("toggle_post_like", {"p_post_id": post, "p_session_id": "session-1"}).execute().data
    assert unliked == {"success": True, "isLiked": False, "newLikeCount": 0}
    assert [m["event_type"] for m in queued(db, "like_events", post)] == ["like", "unlike"]
    assert len(queued(db, "notifications", post)) == 1
    assert [m["event"] for m in queued(db, "analytics", post)] == ["like", "unlike"]


def test_a_failing_send_rolls_the_like_back(db):
    """Fan-out atomicity: the analytics send is the last of three; when it fails nothing of the like remains."""
    post = new_post(db)
    db.execute("""create or replace function public.lab_refuse_send() returns trigger language plpgsql as $$
                  begin raise exception 'analytics is down'; end $$""")
    db.execute("create trigger lab_refuse_send before insert on pgmq.q_analytics "
               "for each row execute function public.lab_refuse_send()")
    try:
        with pytest.raises(psycopg.errors.RaiseException, match="analytics is down"):
            db.execute("select public.toggle_post_like(%s, 'session-x')", (post,))
    finally:
        db.execute("drop trigger lab_refuse_send on pgmq.q_analytics")
        db.execute("drop function public.lab_refuse_send()")
    assert db.execute("select likes from public.posts where id = %s", (post,)).fetchone()[0] == 0
    assert db.execute("select count(*) from public.post_ratings where post_id = %s", (post,)).fetchone()[0] == 0
    assert all(queued(db, queue, post) == [] for queue in QUEUES)


@pytest.mark.parametrize(("args", "argument"), [
    ({"p_post_id": str(uuid.uuid4()), "p_session_id": "s"}, "p_post_id"),
    ({"p_post_id": None, "p_session_id": "s"}, "p_post_id"),
    ({"p_post_id": "POST", "p_session_id": "s"}, None),
    ({"p_post_id": "00000000-0000-0000-0000-000000000000", "p_session_id": ""}, "p_session_id"),
    ({"p_post_id": "00000000-0000-0000-0000-000000000000", "p_session_id": "a b"}, "p_session_id"),
    ({"p_post_id": "00000000-0000-0000-0000-000000000000", "p_session_id": "x" * 129}, "p_session_id"),
])
def test_refusals_are_client_errors_naming_the_argument(provisioned, args, argument):
    response = httpx.post(f"{provisioned.supabase_url}/rest/v1/rpc/toggle_post_like", json=args,
                          headers={"apikey": provisioned.anon_key,
                                   "Authorization": f"Bearer {provisioned.anon_key}"})
    assert 400 <= response.status_code < 500, response.text
    if argument is not None:
        assert response.json()["details"] == f"argument: {argument}"


FORBIDDEN_SQL = [
    "insert into public.posts (caption) values ('x')",
    "update public.posts set likes = 1000",
    "delete from public.post_ratings",
    "select session_id from public.post_ratings",
    "insert into public.post_ratings (post_id, session_id) values (gen_random_uuid(), 's')",
    "select * from public.notifications",
    "select * from public.analytics_events",
    "insert into public.analytics_events (event_type) values ('forged')",
    "update public.post_like_counters set likes = 1",
    "select * from pgmq.q_like_events",
    "select * from pgmq.a_analytics",
    "select * from pgmq.q_notifications_dlq",
    "select * from pgmq_public.read('analytics', 30, 10)",
    "select * from pgmq_public.send('like_events', '{}'::jsonb, 0)",
    "select * from pgmq_public.pop('notifications')",
    "select public.apply_like_events('[]')",
    "select * from public.acknowledge_messages('analytics', array[1]::bigint[])",
    "select * from public.acknowledge_messages('analytics', array[1]::bigint[], true)",
    "select * from public.dead_letter_messages('analytics', array[1]::bigint[], 'x')",
    "select public.replay_dead_letters('analytics')",
    "select * from public.read_messages_with_poll('analytics', 30, 10, 0)",
    "select * from public.acknowledge_and_read('analytics', array[1]::bigint[], false, 30, 10)",
    "select * from public.trim_queue_archives()",
    "select jobqueue_private.call_queue_consumer('analytics')",
    "select jobqueue_private.consumer_token()",
    "select * from jobqueue_private.queue_consumers",
    "select * from jobqueue_private.applied_like_events",
]


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("statement", FORBIDDEN_SQL)
def test_api_roles_are_fenced_out(db, role, statement):
    with as_role(db, role) as cur, pytest.raises(psycopg.errors.InsufficientPrivilege):
        cur.execute(statement)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_api_roles_may_like_and_read_the_feed(db, role):
    post = new_post(db)
    with as_role(db, role) as cur:
        cur.execute("select public.toggle_post_like(%s, 'reader') as answer", (post,))
        assert cur.fetchone()["answer"]["isLiked"] is True
        cur.execute("select likes from public.posts where id = %s", (post,))
        assert cur.fetchone() == {"likes": 1}
        cur.execute("select id, post_id, created_at from public.post_ratings where post_id = %s", (post,))
        assert len(cur.fetchall()) == 1
        cur.execute("select count(*) as n from public.post_like_counters")


def lab_ids(db: psycopg.Connection, queue: str, count: int) -> list[int]:
    return [row[0] for row in db.execute("select * from pgmq.send_batch(%s, %s::jsonb[])",
                                         (queue, [Jsonb({"n": n}) for n in range(count)])).fetchall()]


def test_a_batch_is_deleted_or_archived_in_one_call(db):
    db.execute("select pgmq.purge_queue('lab_noop')")
    ids = lab_ids(db, "lab_noop", 6)
    with as_role(db, "service_role") as cur:
        cur.execute("select * from public.acknowledge_messages('lab_noop', %s) as id", (ids[:4],))
        assert sorted(row["id"] for row in cur.fetchall()) == ids[:4]
        cur.execute("select * from public.acknowledge_messages('lab_noop', %s, archive => true) as id", (ids[4:],))
        assert sorted(row["id"] for row in cur.fetchall()) == ids[4:]
        cur.execute("select count(*) as n from pgmq.q_lab_noop")
        assert cur.fetchone() == {"n": 0}
        cur.execute("select count(*) as n from pgmq.a_lab_noop where msg_id = any(%s)", (ids,))
        assert cur.fetchone() == {"n": 2}


def test_a_batch_is_acknowledged_and_the_next_read_in_one_call(db):
    db.execute("select pgmq.purge_queue('lab_noop')")
    ids = lab_ids(db, "lab_noop", 5)
    with as_role(db, "service_role") as cur:
        cur.execute("select msg_id from public.acknowledge_and_read('lab_noop', '{}', false, 30, 2)")
        first = [row["msg_id"] for row in cur.fetchall()]
        assert first == ids[:2]
        cur.execute("select msg_id from public.acknowledge_and_read('lab_noop', %s, true, 30, 10)", (first,))
        assert [row["msg_id"] for row in cur.fetchall()] == ids[2:]
        cur.execute("select msg_id from pgmq.a_lab_noop where msg_id = any(%s) order by msg_id", (ids,))
        assert [row["msg_id"] for row in cur.fetchall()] == first


@pytest.mark.parametrize("statement", [
    "select * from public.acknowledge_messages('work_queue', array[1]::bigint[])",
    "select * from public.acknowledge_messages('nope', array[1]::bigint[], true)",
    "select * from public.dead_letter_messages('analytics_dlq', array[1]::bigint[], 'x')",
    "select public.replay_dead_letters('analytics', 0)",
    "select * from public.acknowledge_messages('analytics', array(select generate_series(1, 1001))::bigint[])",
])
def test_the_lab_functions_refuse_other_queues_and_bad_arguments(db, statement):
    with as_role(db, "service_role") as cur, pytest.raises(psycopg.errors.InvalidParameterValue):
        cur.execute(statement)


def test_dead_letters_keep_their_message_and_replay_brings_them_back(db):
    db.execute("select pgmq.purge_queue('lab_noop'), pgmq.purge_queue('lab_noop_dlq')")
    ids = lab_ids(db, "lab_noop", 3)
    db.execute("select pgmq.read('lab_noop', 0, 10)")
    with as_role(db, "service_role") as cur:
        cur.execute("select * from public.dead_letter_messages('lab_noop', %s, 'read 6 times')", (ids[:2],))
        assert sorted(row["dead_letter_messages"] for row in cur.fetchall()) == ids[:2]
        cur.execute("select message from pgmq.q_lab_noop_dlq order by msg_id")
        letters = [row["message"] for row in cur.fetchall()]
        assert [m["n"] for m in letters] == [0, 1]
        assert letters[0]["dead_letter"]["msg_id"] == ids[0] and letters[0]["dead_letter"]["read_ct"] == 1
        assert letters[0]["dead_letter"]["reason"] == "read 6 times"
        cur.execute("select msg_id from pgmq.q_lab_noop")
        assert [row["msg_id"] for row in cur.fetchall()] == ids[2:]
        cur.execute("select public.replay_dead_letters('lab_noop') as n")
        assert cur.fetchone() == {"n": 2}
        cur.execute("select message from pgmq.q_lab_noop order by msg_id")
        back = [row["message"] for row in cur.fetchall()]
        assert back[1:] == [{"n": 0, "replays": 1}, {"n": 1, "replays": 1}]
        cur.execute("select (select count(*) from pgmq.q_lab_noop_dlq) as queued, "
                    "(select count(*) from pgmq.a_lab_noop_dlq) as archived")
        assert cur.fetchone()["queued"] == 0


def test_like_events_count_once_however_often_they_are_applied(db):
    post = new_post(db)
    events = [{"event_id": str(uuid.uuid4()), "post_id": post, "event_value": value,
               "timestamp": "2026-12-05T08:00:00Z"} for value in (1, 1, -1)]
    with as_role(db, "service_role") as cur:
        cur.execute("select public.apply_like_events(%s) as n", (Jsonb(events[:2]),))
        assert cur.fetchone() == {"n": 2}
        cur.execute("select public.apply_like_events(%s) as n", (Jsonb(events),))
        assert cur.fetchone() == {"n": 1}
        cur.execute("select likes, unlikes, net from public.post_like_counters where post_id = %s", (post,))
        assert cur.fetchone() == {"likes": 2, "unlikes": 1, "net": 1}


def test_retention_trims_each_archive_after_its_own_days(db):
    for queue in QUEUES:
        db.execute(sql.SQL("delete from pgmq.{}").format(sql.Identifier(f"a_{queue}")))
        for days in (6, 8, 31, 91):
            db.execute(sql.SQL("insert into pgmq.{} (msg_id, read_ct, enqueued_at, archived_at, vt, message) "
                               "values (%s, 1, now(), now() - make_interval(days => %s), now(), '{{}}')").format(
                sql.Identifier(f"a_{queue}")), (-days, days))
    with as_role(db, "service_role") as cur:
        cur.execute("select * from public.trim_queue_archives()")
        deleted = {row["queue_name"]: row["deleted"] for row in cur.fetchall()}
        left = {}
        for queue in QUEUES:
            cur.execute(sql.SQL("select msg_id from pgmq.{}").format(sql.Identifier(f"a_{queue}")))
            left[queue] = sorted(-row["msg_id"] for row in cur.fetchall())
    assert {q: deleted[q] for q in QUEUES} == {"like_events": 2, "notifications": 3, "analytics": 1}
    assert left == {"like_events": [6, 8], "notifications": [6], "analytics": [6, 8, 31]}


def test_cron_calls_each_consumer_on_the_seed_schedules_and_trims_daily(db):
    jobs = dict(db.execute("select jobname, schedule from cron.job where jobname like 'process-%' "
                           "or jobname = 'cleanup-archived-messages'").fetchall())
    assert jobs == {"process-like-events": "* * * * *", "process-notifications": "10 seconds",
                    "process-analytics": "* * * * *", "cleanup-archived-messages": "0 3 * * *"}


def test_the_cron_call_carries_a_bearer_derived_from_the_vault_secret(db, provisioned):
    """The bearer is read from Vault when the call is made; no database setting holds a key."""
    with db.transaction(force_rollback=True):
        request_id = db.execute("select jobqueue_private.call_queue_consumer('analytics')").fetchone()[0]
        url, body, headers = db.execute("select url, body, headers from net.http_request_queue where id = %s",
                                        (request_id,)).fetchone()
    assert url.endswith("/hooks/consumers/analytics")
    assert json.loads(bytes(body)) == {"batch_size": 100, "visibility_seconds": 30, "max_reads": 5}
    assert headers["Authorization"] == f"Bearer {consumer_token(webhook_key(provisioned.webhook_secret))}"
    assert db.execute("select count(*) from pg_db_role_setting s, unnest(s.setconfig) c "
                      "where c like 'app.%'").fetchone()[0] == 0
