"""CSV output, JSON paths, array literals inside ``or``, planned/estimated counts, limited PATCH/DELETE, and
request errors answered with PostgREST's 4xx (PostgREST docs: "Response Formats", "JSON Columns", "Logical
operators", "Pagination and Count", "Limited Update/Delete", "Errors")."""
# ruff: noqa: F811 - fixtures imported from rest_support are redefined as test parameters

from __future__ import annotations

import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import AsyncClient, Client

from stack_support.rest import aservice, rest_schema, service, tag  # noqa: F401
from supabase_local.state import StackState

pytestmark = pytest.mark.timeout(60)


def seed(client: Client, tag: str, count: int = 3) -> None:
    rows = [{"tag": tag, "name": f"r{i}", "n": i, "data": {"kind": "odd" if i % 2 else "even", "a": {"b": f"v{i}"},
                                                          "n": count - i, "tags": ["x", f"t{i}"]}}
            for i in range(count)]
    client.table("rest_probe").insert(rows, returning="minimal").execute()


def call(stack: StackState, method: str, params: list[tuple[str, str]] | dict[str, str],
         headers: dict[str, str] | None = None, **kwargs) -> httpx.Response:
    key = stack.service_role_key
    return httpx.request(method, f"{stack.supabase_url}/rest/v1/rest_probe", params=params,
                         headers={"apikey": key, "Authorization": f"Bearer {key}", **(headers or {})}, **kwargs)


def test_csv_output(stack: StackState, service: Client, tag: str):
    seed(service, tag, 2)
    response = call(stack, "GET", {"select": "name,n", "tag": f"eq.{tag}", "order": "n"}, {"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == "name,n\nr0,0\nr1,1"
    empty = call(stack, "GET", {"select": "name", "tag": "eq.none-such"}, {"Accept": "text/csv"})
    assert empty.status_code == 200 and empty.text == "\n"


def test_csv_through_the_client(service: Client, tag: str):
    seed(service, tag, 1)
    assert service.table("rest_probe").select("name").eq("tag", tag).csv().execute().data == "name\nr0"


def test_json_paths_in_select_filters_and_order(service: Client, tag: str):
    seed(service, tag, 3)
    data = service.table("rest_probe").select("name,data->a->>b,kind:data->>kind").eq("tag", tag) \
        .eq("data->>kind", "even").order("data->n", desc=True).execute().data
    assert data == [{"name": "r0", "b": "v0", "kind": "even"}, {"name": "r2", "b": "v2", "kind": "even"}]
    first_tag = service.table("rest_probe").select("data->tags->0").eq("tag", tag).eq("name", "r1").execute().data
    assert first_tag == [{"tags": "x"}]


async def test_json_paths_async(aservice: AsyncClient, tag: str):
    await aservice.table("rest_probe").insert({"tag": tag, "name": "j", "data": {"kind": "k"}}).execute()
    result = await aservice.table("rest_probe").select("data->>kind").eq("tag", tag).execute()
    assert result.data == [{"kind": "k"}]


def test_arrays_and_in_lists_inside_or(service: Client, tag: str):
    service.table("rest_probe").insert([
        {"tag": tag, "name": "a", "n": 1, "data": {"is": "open", "priority": "high"}},
        {"tag": tag, "name": "b", "n": 4},
        {"tag": tag, "name": "c,d", "n": 7},
        {"tag": tag, "name": "e", "n": 9}]).execute()
    data = service.table("rest_probe").select("name").eq("tag", tag) \
        .or_('n.in.(1,4),data.cs.{"is":"open"},name.eq."c,d"').order("name").execute().data
    assert [row["name"] for row in data] == ["a", "b", "c,d"]


def test_planned_and_estimated_counts(stack: StackState, service: Client, tag: str):
    seed(service, tag, 3)
    params = {"select": "name", "tag": f"eq.{tag}", "limit": "1"}
    planned = call(stack, "GET", params, {"Prefer": "count=planned"})
    assert planned.status_code in (200, 206)
    assert int(planned.headers["content-range"].split("/")[1]) >= 1
    estimated = call(stack, "GET", params, {"Prefer": "count=estimated"})
    assert estimated.status_code == 206 and estimated.headers["content-range"] == "0-0/3"
    result = service.table("rest_probe").select("name", count="planned").eq("tag", tag).execute()
    assert result.count is not None and result.count >= 1


def test_limited_update_and_delete(service: Client, tag: str):
    seed(service, tag, 4)
    updated = service.table("rest_probe").update({"n": 100}).eq("tag", tag).order("name", desc=True).limit(2) \
        .execute().data
    assert sorted(row["name"] for row in updated) == ["r2", "r3"]
    deleted = service.table("rest_probe").delete().eq("tag", tag).order("name").limit(1).execute().data
    assert [row["name"] for row in deleted] == ["r0"]
    left = service.table("rest_probe").select("name,n").eq("tag", tag).order("name").execute().data
    assert left == [{"name": "r1", "n": 1}, {"name": "r2", "n": 100}, {"name": "r3", "n": 100}]


@pytest.mark.parametrize(("params", "code"), [
    ({"id": "eq.\x00"}, "22021"),
    ({"name": "eq.a\x00b"}, "22021"),
    ({"id": "eq.abc"}, "22P02"),
    ({"n": "eq.99999999999999999999"}, "22003"),
    ({"data": "cs.{not json"}, "22P02"),
    ({"select": "data->>x\x00"}, "22021"),
    ({"limit": "99999999999999999999999"}, "22003"),
])
def test_bad_values_are_client_errors(stack: StackState, rest_schema: None, params: dict[str, str], code: str):
    response = call(stack, "GET", params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details", "hint"} and body["code"] == code


def test_bad_bodies_are_client_errors(stack: StackState, rest_schema: None, tag: str):
    headers = {"Content-Type": "application/json"}
    for content in (b"\xff\xfe", b'{"tag": "\\u0000", "name": "x"}', b'{"tag": "\\ud800", "name": "x"}',
                    b"[" * 5000 + b"]" * 5000, f'{{"tag": "{tag}", "name": "x", "n": 1e400}}'.encode()):
        response = call(stack, "POST", {}, headers, content=content)
        assert 400 <= response.status_code < 500, (content[:20], response.status_code, response.text)
        assert set(response.json()) == {"code", "message", "details", "hint"}


def test_nul_filter_is_not_retried_by_the_client(service: Client):
    with pytest.raises(APIError) as err:
        service.table("rest_probe").select("id").eq("name", "\x00").execute()
    assert err.value.code == "22021"
