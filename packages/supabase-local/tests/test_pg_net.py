"""The pg_net-compatible `net` schema and its dispatcher, against the real stack and a real HTTP server."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from stack_support.http_recorder import Recorder, recording_server
from supabase_local.net_dispatcher import CLAIM_SQL, DEFAULT_CONCURRENCY
from supabase_local.state import free_port
from supabase_local.testing import eventually


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Recorder]]:
    with recording_server() as (url, recorder):
        yield url, recorder


def response_of(db: psycopg.Connection, request_id: int, timeout: float = 15.0) -> dict:
    """The recorded response of a request, once the dispatcher has written it."""
    def probe() -> dict | None:
        with db.cursor(row_factory=dict_row) as cur:
            return cur.execute("select * from net._http_response where id = %s", (request_id,)).fetchone()
    return eventually(probe, timeout, f"response of request {request_id}")


def post(db: psycopg.Connection, url: str, body: object, **named: object) -> int:
    """Call net.http_post with named arguments, as SQL callers do."""
    args = {"url": url, "body": Jsonb(body), **{k: Jsonb(v) if isinstance(v, dict) else v for k, v in named.items()}}
    named_args = sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder(name))
                                    for name in args)
    return db.execute(sql.SQL("select net.http_post({})").format(named_args), args).fetchone()[0]


def test_post_arrives_with_the_exact_body_and_headers(db, server):
    url, recorder = server
    body = {"msg_id": 7, "job_id": "b5f0", "task_name": "naïve ✓ \"quoted\"", "nested": {"z": [1, 2.5, None]}}
    signature = "v1,abc"
    request_id = post(db, f"{url}/hooks", body, headers={"Content-Type": "application/json",
                                                        "webhook-signature": signature})
    expected_bytes, expected_sha = db.execute(
        "select convert_to(%(b)s::jsonb::text, 'UTF8'), encode(sha256(convert_to(%(b)s::jsonb::text, 'UTF8')), 'hex')",
        {"b": json.dumps(body)}).fetchone()
    recorder.wait_until(lambda r: r.with_path("/hooks"))
    (seen,) = recorder.with_path("/hooks")
    assert seen.method == "POST"
    assert seen.body == bytes(expected_bytes)
    assert hashlib.sha256(seen.body).hexdigest() == expected_sha
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["webhook-signature"] == signature
    response = response_of(db, request_id)
    assert response["status_code"] == 200
    assert response["content_type"] == "application/json"
    assert response["headers"]["x-recorder"] == "yes"
    assert json.loads(response["content"]) == {"received": True}
    assert response["timed_out"] is False and response["error_msg"] is None


def test_params_are_appended_to_the_query_string(db, server):
    url, recorder = server
    post(db, f"{url}/params?fixed=1", {}, params={"a": "one two", "b": "x&y=z", "c": "é"})
    recorder.wait_until(lambda r: r.with_path("/params"))
    (seen,) = recorder.with_path("/params")
    assert seen.query == {"fixed": ["1"], "a": ["one two"], "b": ["x&y=z"], "c": ["é"]}


def test_default_content_type_is_added_and_another_is_refused(db, server):
    url, recorder = server
    post(db, f"{url}/default-type", {"a": 1}, headers={"X-Extra": "1"})
    recorder.wait_until(lambda r: r.with_path("/default-type"))
    assert recorder.with_path("/default-type")[0].headers["content-type"] == "application/json"
    with pytest.raises(psycopg.errors.RaiseException, match="Content-Type header must be"):
        post(db, f"{url}/never", {}, headers={"Content-Type": "text/plain"})


def test_get_and_delete_use_their_methods(db, server):
    url, recorder = server
    db.execute("select net.http_get(%s, params => '{\"q\": \"1\"}')", (f"{url}/get",))
    db.execute("select net.http_delete(%s, body => '{\"gone\": true}')", (f"{url}/delete",))
    recorder.wait_until(lambda r: r.with_path("/get") and r.with_path("/delete"))
    (got,), (deleted,) = recorder.with_path("/get"), recorder.with_path("/delete")
    assert (got.method, got.query, got.body) == ("GET", {"q": ["1"]}, b"")
    assert (deleted.method, deleted.body) == ("DELETE", b'{"gone": true}')


def test_a_rolled_back_request_is_never_sent(db, server):
    url, recorder = server
    with db.transaction(force_rollback=True):
        post(db, f"{url}/tx", {}, params={"marker": "rolled-back"})
    post(db, f"{url}/tx", {}, params={"marker": "committed"})
    recorder.wait_until(lambda r: r.with_path("/tx"))
    markers = [seen.query["marker"][0] for seen in recorder.with_path("/tx")]
    assert markers == ["committed"]


def test_a_slow_endpoint_is_recorded_as_timed_out(db, server):
    url, _ = server
    request_id = post(db, f"{url}/slow", {}, timeout_milliseconds=200)
    response = response_of(db, request_id)
    assert response["timed_out"] is True
    assert response["status_code"] is None
    assert "200 ms" in response["error_msg"]


def test_a_server_error_is_recorded(db, server):
    url, _ = server
    response = response_of(db, post(db, f"{url}/status/500", {}))
    assert response["status_code"] == 500
    assert response["timed_out"] is False and response["error_msg"] is None


def test_an_unreachable_port_is_recorded_with_an_error(db):
    response = response_of(db, post(db, f"http://127.0.0.1:{free_port()}/nobody", {}))
    assert response["status_code"] is None
    assert response["timed_out"] is False
    assert response["error_msg"]


def queued(db: psycopg.Connection, ids: list[int]) -> int:
    """How many of these requests still wait in the queue."""
    return db.execute("select count(*) from net.http_request_queue where id = any(%s)", (ids,)).fetchone()[0]


def ended(db: psycopg.Connection, ids: list[int]) -> list[dict]:
    """The recorded outcomes of those of these requests that have ended."""
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute("select id, status_code, timed_out, error_msg from net._http_response "
                           "where id = any(%s) order by id", (ids,)).fetchall()


def test_concurrency_is_bounded(db, server):
    """With every request held by the server, exactly the bound is in flight and the rest wait in the queue.

    Only this test's requests are counted: the session stack is shared, so webhooks of other tests (the
    sweeper posts every 10 seconds) may be queued or in flight too; they end on their own and free their slots.
    """
    url, recorder = server
    total = DEFAULT_CONCURRENCY + 8
    with recorder.holding():
        ids = [row[0] for row in db.execute("select net.http_post(%s, timeout_milliseconds => 30000) "
                                            "from generate_series(1, %s)", (f"{url}/hold", total))]
        recorder.wait_until(lambda r: r.in_flight >= DEFAULT_CONCURRENCY)
        assert (recorder.in_flight, queued(db, ids), ended(db, ids)) == \
            (DEFAULT_CONCURRENCY, total - DEFAULT_CONCURRENCY, [])

    def all_answered() -> list[dict] | None:
        outcomes = ended(db, ids)
        return outcomes if len(outcomes) == total else None
    assert {outcome["status_code"] for outcome in eventually(all_answered, what="every held request answered")} \
        == {200}
    assert recorder.max_in_flight == DEFAULT_CONCURRENCY


def test_a_claim_takes_no_more_rows_than_asked(db):
    """Regression: a claim written as ``id in (select ... limit n for update skip locked)`` took every queued row
    when the planner ran the subquery again for each row of a nested loop (its choice once the queue's
    statistics say the table is nearly empty), so the dispatcher sent more requests than its bound. That plan
    is forced here; the rows are never committed, so the running dispatcher never sees them."""
    with db.transaction(force_rollback=True):
        db.execute("insert into net.http_request_queue (method, url, timeout_milliseconds) "
                   "select 'GET', 'http://127.0.0.1:9/never', 1000 from generate_series(1, 40)")
        for setting in ("enable_hashjoin", "enable_mergejoin", "enable_hashagg", "enable_material", "enable_sort"):
            db.execute(sql.SQL("set local {} = off").format(sql.Identifier(setting)))
        claimed = db.execute(CLAIM_SQL, {"n": DEFAULT_CONCURRENCY}).fetchall()
    assert len(claimed) == DEFAULT_CONCURRENCY


def test_old_responses_expire_after_the_ttl(db, server):
    """pg_net.ttl defaults to 6 hours; time is moved in SQL rather than waited for."""
    url, recorder = server
    db.execute("insert into net._http_response (id, created) values "
               "(-1, now() - interval '7 hours'), (-2, now() - interval '6 hours' + interval '0.3 seconds')")
    post(db, f"{url}/wake", {})
    recorder.wait_until(lambda r: r.with_path("/wake"))
    eventually(lambda: db.execute("select count(*) = 0 from net._http_response where id in (-1, -2)").fetchone()[0],
               what="expired responses deleted")
    assert db.execute("select count(*) from net._http_response where id > 0").fetchone()[0] > 0


def test_api_roles_may_call_but_not_read_the_queue(platform_db):
    db = platform_db
    db.execute("set role anon")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("select * from net._http_response")
    finally:
        db.execute("reset role")
    for role in ("anon", "authenticated", "service_role", "postgres"):
        assert db.execute("select has_function_privilege(%s, 'net.http_post(text,jsonb,jsonb,jsonb,int)', 'execute')",
                          (role,)).fetchone()[0]
    assert not db.execute("select has_function_privilege('public', 'net._enqueue(text,text,jsonb,bytea,int)', "
                          "'execute')").fetchone()[0]
