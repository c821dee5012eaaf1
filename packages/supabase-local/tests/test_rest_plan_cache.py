"""Plans kept by request shape: a kept plan binds each request's own values, is never shared across roles or
reused after DDL reloads the schema cache, and is kept only when a second plan proves which parameters are
the request's values. The REST front serves ``/rest/v1`` ahead of Starlette and leaves other paths to it; the
message a flight sends is the one psycopg's client-side binding would have sent."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg import sql
from starlette.requests import Request

from supabase_local.rest import planner, request_settings
from supabase_local.rest.errors import RestError
from supabase_local.rest.flight import Literals, Message
from supabase_local.rest.front import RestFront, RestRequest
from supabase_local.rest.negotiation import Output, Preferences
from supabase_local.rest.plan_cache import Kept, PlanCache, Shape, shape
from supabase_local.rest.query import parse_query
from supabase_local.rest.schema_cache import Param, Relation, Routine, SchemaCache
from supabase_local.state import StackState
from supabase_local.testing import eventually

pytestmark = pytest.mark.timeout(60)
SCHEMAS = ("public",)


def schema_cache() -> SchemaCache:
    cache = SchemaCache(SCHEMAS)
    cache.relations[("public", "items")] = Relation("public", "items", ("id", "name", "n"), ("id",))
    cache.routines[("public", "add_one")] = [
        Routine("public", "add_one", (Param("a", "integer", False, False),), False, False, False, (), True)]
    return cache


CACHE = schema_cache()


def read(name: str, pairs: list[tuple[str, str]], rpc: bool = False) -> tuple[Shape, planner.Request, planner.Plan]:
    """The shape, planned request and plan of a GET, as the endpoint makes them."""
    found = shape("GET", "public", name, rpc, "anon", pairs, [], [], None)
    request = planner.Request("GET", "public", name, rpc, parse_query(pairs), Preferences(), Output(), b"")
    return found, request, planner.plan(CACHE, request)


def keep(plans: PlanCache, found: Shape, request: planner.Request, plan: planner.Plan) -> Kept | None:
    message = Message.compose(request_settings.statement(None), plan)
    return plans.learn(CACHE, request, plan, message, None, found, None)


def test_requests_differing_only_in_values_share_a_shape():
    first, _, _ = read("items", [("select", "id,name"), ("id", "eq.1"), ("name", "like.a*")])
    second, _, _ = read("items", [("select", "id,name"), ("id", "eq.2"), ("name", "like.b*")])
    assert first.key == second.key
    assert (first.values, second.values) == (["1", "a*"], ["2", "b*"])
    other_select, _, _ = read("items", [("select", "id"), ("id", "eq.1")])
    negated, _, _ = read("items", [("select", "id,name"), ("id", "not.eq.1"), ("name", "like.a*")])
    in_list, _, _ = read("items", [("select", "id,name"), ("id", "in.(1,2)"), ("name", "like.a*")])
    assert len({first.key, other_select.key, negated.key, in_list.key}) == 4
    assert in_list.values == ["a*"]  # an in-list shapes the SQL (one parameter per item): it stays in the key


def test_roles_and_headers_are_part_of_the_shape():
    pairs = [("select", "*"), ("id", "eq.1")]
    keys = {
        shape("GET", "public", "items", False, "anon", pairs, [], [], None).key,
        shape("GET", "public", "items", False, "service_role", pairs, [], [], None).key,
        shape("HEAD", "public", "items", False, "anon", pairs, [], [], None).key,
        shape("GET", "public", "items", False, "anon", pairs, ["count=exact"], [], None).key,
        shape("GET", "public", "items", False, "anon", pairs, [], ["text/csv"], None).key,
        shape("GET", "public", "items", False, "anon", pairs, [], [], "0-9").key,
    }
    assert len(keys) == 6


def test_a_kept_plan_binds_each_requests_values():
    plans = PlanCache()
    found, request, plan = read("items", [("select", "id"), ("id", "eq.1"), ("name", "like.a*b")])
    kept = keep(plans, found, request, plan)
    assert kept is not None and plans.get(CACHE, found.key) is kept
    later, _, replanned = read("items", [("select", "id"), ("id", "eq.7"), ("name", "like.c*")])
    assert later.key == found.key
    _, params = kept.plan_for(later.values)
    assert params == replanned.statement.params == {"p0": "7", "p1": "c%"}
    assert kept.message.query == Message.compose(request_settings.statement(None), replanned).query
    with pytest.raises(RestError) as nul:
        kept.plan_for(["1\x00", "x"])
    assert nul.value.code == "22021"


def test_a_shape_is_tried_when_it_comes_back():
    """The first plan of a shape is only noted; the second is proven and kept."""
    plans = PlanCache()
    found, request, plan = read("items", [("select", "*"), ("id", "eq.1")])
    message = Message.compose(request_settings.statement(None), plan)
    assert plans.offer(CACHE, request, plan, message, None, found, None) is None and not plans.known(found.key)
    kept = plans.offer(CACHE, request, plan, message, None, found, None)
    assert kept is not None and plans.get(CACHE, found.key) is kept


def test_a_value_that_shapes_the_sql_is_not_kept():
    """An RPC argument that looks like a filter (``a=eq.1``) is folded into the JSON of the arguments; the
    stand-in plan shows it, and the shape is remembered as one that cannot be kept."""
    plans = PlanCache()
    found, request, plan = read("add_one", [("a", "eq.1")], rpc=True)
    assert found.values == ["1"]
    assert keep(plans, found, request, plan) is None
    assert plans.known(found.key) and plans.get(CACHE, found.key) is None


def test_a_reloaded_schema_cache_drops_every_kept_plan():
    plans = PlanCache()
    found, request, plan = read("items", [("select", "*"), ("id", "eq.1")])
    assert keep(plans, found, request, plan) is not None
    reloaded = schema_cache()
    assert plans.get(reloaded, found.key) is None
    assert len(plans) == 0


def test_the_cache_stays_bounded():
    plans = PlanCache(size=3)
    for limit in range(5):
        found, request, plan = read("items", [("select", "*"), ("id", "eq.1"), ("limit", str(limit))])
        keep(plans, found, request, plan)
    assert len(plans) == 3


def test_a_rendered_message_is_what_psycopg_would_send(db: psycopg.Connection):
    query = sql.SQL(";").join([request_settings.EXECUTE, sql.SQL("select {}, {}, {}, {}").format(
        sql.Placeholder("p0"), sql.Placeholder("p1"), sql.Placeholder("p0"), sql.Placeholder("p2"))])
    message = Message(query.as_bytes(None))
    assert message.plain
    params: dict[str, object] = {
        "read_only": "on", "role": "anon", "claims": '{"role": "anon"}', "sub": "", "method": "GET",
        "path": "/rest/v1/x", "headers": '{"a": "it\'s \\\\ \\u00e9"}', "cookies": "{}", "p0": "ünï'côde\\",
        "p1": None, "p2": "x" * 5000}
    literals = Literals(size=2)
    for _ in range(2):  # the second time from the kept literals
        rendered = message.render(params, literals, db)  # type: ignore[arg-type]
        assert rendered == psycopg.ClientCursor(db).mogrify(message.query, params).encode()
    assert len(literals) <= 2
    assert not Message(b'select "a%b" from t where x = %(p0)s').plain


@pytest.fixture
def items(stack: StackState, db: psycopg.Connection) -> Iterator[str]:
    """A table with a policy for anon, and its REST URL."""
    db.execute("""
        drop table if exists plan_probe;
        create table plan_probe (id int primary key, a text, owner text);
        insert into plan_probe values (1, 'one', 'anon'), (2, 'two', 'other'), (3, 'three', 'anon');
        alter table plan_probe enable row level security;
        create policy anon_reads_own on plan_probe for select to anon using (owner = 'anon');
        grant select on plan_probe to anon;""")
    yield f"{stack.supabase_url}/rest/v1/plan_probe"
    db.execute("drop table if exists plan_probe")


def keyed(key: str) -> dict[str, str]:
    return {"apikey": key, "Authorization": f"Bearer {key}"}


def test_requests_differing_only_in_values_get_their_own_rows(stack: StackState, items: str):
    service = keyed(stack.service_role_key)
    for ident in (1, 2, 3, 1, 2):
        response = httpx.get(items, params={"select": "id,a", "id": f"eq.{ident}"}, headers=service)
        assert response.status_code == 200
        assert response.json() == [{"id": ident, "a": {1: "one", 2: "two", 3: "three"}[ident]}]
    for pattern, names in (("t*", ["two", "three"]), ("o*", ["one"]), ("*e", ["one", "three"])):
        response = httpx.get(items, params={"select": "a", "a": f"like.{pattern}", "order": "id"}, headers=service)
        assert [row["a"] for row in response.json()] == names
    for _ in range(2):
        refused = httpx.get(items, params={"select": "a", "a": "like.x\x00"}, headers=service)
        assert refused.status_code == 400 and refused.json()["code"] == "22021"


def test_roles_do_not_share_what_they_see(stack: StackState, items: str):
    """The same shape as anon and as service_role: RLS applies to anon every time."""
    for _ in range(3):
        for key, seen in ((stack.anon_key, [1, 3]), (stack.service_role_key, [1, 2, 3])):
            response = httpx.get(items, params={"select": "id", "id": "gte.1", "order": "id"}, headers=keyed(key))
            assert [row["id"] for row in response.json()] == seen, response.text


def test_a_kept_plan_is_not_reused_after_ddl(stack: StackState, items: str, db: psycopg.Connection):
    """After a column is renamed the reloaded schema cache plans again: the planner refuses the old name with
    its own message (a kept plan would have reached the database and its differently worded error)."""
    service = keyed(stack.service_role_key)
    for _ in range(2):
        assert httpx.get(items, params={"select": "a", "id": "eq.1"}, headers=service).json() == [{"a": "one"}]
    db.execute("alter table plan_probe rename column a to b")

    def refused_by_the_planner() -> bool:
        body = httpx.get(items, params={"select": "a", "id": "eq.1"}, headers=service).json()
        return body == {"code": "42703", "details": None, "hint": None,
                        "message": "column plan_probe.a does not exist"}

    eventually(refused_by_the_planner, what="the planner sees the renamed column")
    assert httpx.get(items, params={"select": "b", "id": "eq.3"}, headers=service).json() == [{"b": "three"}]


def test_the_front_leaves_other_paths_and_methods_to_starlette(stack: StackState, items: str):
    service = keyed(stack.service_role_key)
    base = f"{stack.supabase_url}/rest/v1"
    not_allowed = httpx.request("OPTIONS", items, headers=service)
    assert not_allowed.status_code == 405 and not_allowed.text == "Method Not Allowed"
    assert set(not_allowed.headers["allow"].split(", ")) == {"GET", "HEAD", "POST", "PATCH", "DELETE", "PUT"}
    for path in ("/plan_probe/x", "/rpc/a/b", "/"):
        missing = httpx.get(base + path, headers=service)
        assert missing.status_code == 404 and missing.text == "Not Found"
    head = httpx.head(items, params={"select": "id", "id": "eq.1"}, headers=service)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-range"] == "0-0/*"


def scope(path: str, query: bytes = b"", headers: tuple[tuple[bytes, bytes], ...] = (), root_path: str = "") -> dict:
    return {"type": "http", "method": "GET", "scheme": "http", "server": ("127.0.0.1", 54321), "path": path,
            "root_path": root_path, "query_string": query, "headers": list(headers)}


@pytest.mark.parametrize("asgi_scope", [
    scope("/rest/v1/items", b"select=*&id=eq.5"),
    scope("/rest/v1/it ems?#\\x", b"a=%20b+c&&blank=&apikey=1&apikey=2&n=%E2%82%AC",
          ((b"host", b"h:1"), (b"cookie", b"a=1; b=\"x y\""), (b"cookie", b"a=2; c"), (b"x-dup", b"1"),
           (b"X-Dup", b"2"), (b"x-latin", "é".encode("latin-1")))),
    scope("/rest/v1/€", b"", ((b"host", b"bad host/x"),)),
    scope("/rest/v1/items", b"", ((b"cookie", b""),), root_path="/api"),
])
def test_the_front_reads_a_request_as_starlette_did(asgi_scope: dict):
    """Path, query parameters, headers and cookies as the request settings carried them through Starlette."""
    ours, theirs = RestRequest(dict(asgi_scope), None), Request(dict(asgi_scope))  # type: ignore[arg-type]
    assert ours.path == theirs.url.path
    assert ours.pairs == theirs.query_params.multi_items()
    assert ours.param("apikey") == theirs.query_params.get("apikey")
    assert ours.headers_json() == json.dumps({key.lower(): value for key, value in theirs.headers.items()})
    assert ours.cookies_json() == json.dumps(dict(theirs.cookies))


async def test_the_front_answers_an_unexpected_error_as_starlette_did():
    """Starlette's plain 500 goes out, then the exception reaches the server (which logs it); other paths go on
    to the app."""
    async def serve(*_: object) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        raise RuntimeError("unexpected")

    passed: list[str] = []

    async def app(asgi_scope: dict, *_: object) -> None:
        passed.append(asgi_scope["path"])

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    front = RestFront(app, serve)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        await front(scope("/rest/v1/items"), None, send)  # type: ignore[arg-type]
    assert sent == [{"type": "http.response.start", "status": 500, "headers": [
        (b"content-length", b"21"), (b"content-type", b"text/plain; charset=utf-8")]},
        {"type": "http.response.body", "body": b"Internal Server Error"}]
    for path in ("/health", "/rest/v1/a/b", "/rest/v1/"):
        await front(scope(path), None, send)  # type: ignore[arg-type]
    assert passed == ["/health", "/rest/v1/a/b", "/rest/v1/"]
