"""Tables and views through the real supabase client: reads, filters, counts, writes, upserts, shapes."""
# ruff: noqa: F811 - fixtures imported from rest_support are redefined as test parameters

from __future__ import annotations

import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import AsyncClient, Client

from stack_support.rest import aservice, rest_schema, service, tag  # noqa: F401
from supabase_local.state import StackState

pytestmark = pytest.mark.timeout(60)


def seed(client: Client, tag: str, count: int = 3) -> list[dict]:
    rows = [{"tag": tag, "name": f"r{i}", "n": i, "data": {"i": i}} for i in range(count)]
    return client.table("rest_probe").insert(rows).execute().data


def test_insert_returns_the_row_with_defaults(service: Client, tag: str):
    data = service.table("rest_probe").insert({"tag": tag, "name": "one", "n": 1}).execute().data
    assert len(data) == 1
    assert data[0]["name"] == "one" and data[0]["owner"] == "anon" and data[0]["id"] > 0


def test_insert_minimal_returns_nothing(service: Client, tag: str):
    result = service.table("rest_probe").insert({"tag": tag, "name": "m"}, returning="minimal").execute()
    assert result.data == []
    assert service.table("rest_probe").select("name").eq("tag", tag).execute().data == [{"name": "m"}]


def test_bulk_insert_counts_rows(service: Client, tag: str):
    result = service.table("rest_probe").insert(
        [{"tag": tag, "name": "a"}, {"tag": tag, "name": "b", "n": 2}], count="exact").execute()
    assert result.count == 2
    assert sorted(r["name"] for r in result.data) == ["a", "b"]


def test_bulk_insert_with_missing_default(service: Client, tag: str):
    """Prefer: missing=default: a key one row lacks takes the column default (owner 'anon'), not null."""
    rows = [{"tag": tag, "name": "a", "n": 1}, {"tag": tag, "name": "b", "owner": "anon", "data": None}]
    data = service.table("rest_probe").insert(rows, default_to_null=False).execute().data
    got = [(r["name"], r["n"], r["owner"], r["data"]) for r in data]
    assert got == [("a", 1, "anon", None), ("b", None, "anon", None)]
    assert all(r["id"] > 0 and r["created_at"] for r in data)


def test_bulk_insert_without_missing_default_sends_null(service: Client, tag: str):
    rows = [{"tag": tag, "name": "a"}, {"tag": tag, "name": "b", "owner": "anon"}]
    with pytest.raises(APIError) as err:
        service.table("rest_probe").insert(rows).execute()
    assert err.value.code == "23502"  # owner is not null and row "a" sent none
    assert service.table("rest_probe").select("name").eq("tag", tag).execute().data == []


def test_upsert_with_missing_default(service: Client, tag: str):
    service.table("rest_probe").insert({"tag": tag, "name": "a", "n": 1}).execute()
    rows = [{"tag": tag, "name": "a", "n": 5}, {"tag": tag, "name": "b"}]
    data = service.table("rest_probe").upsert(rows, on_conflict="tag,name", default_to_null=False).execute().data
    assert sorted((r["name"], r["n"], r["owner"]) for r in data) == [("a", 5, "anon"), ("b", None, "anon")]


def test_select_columns_order_limit_offset(service: Client, tag: str):
    seed(service, tag, 5)
    data = service.table("rest_probe").select("name,n").eq("tag", tag).order("n", desc=True) \
        .limit(2).offset(1).execute().data
    assert data == [{"name": "r3", "n": 3}, {"name": "r2", "n": 2}]


def test_select_renames_and_casts(service: Client, tag: str):
    seed(service, tag, 1)
    data = service.table("rest_probe").select("label:name,n::text").eq("tag", tag).execute().data
    assert data == [{"label": "r0", "n": "0"}]


def test_filters(service: Client, tag: str):
    seed(service, tag, 5)
    table = service.table("rest_probe")

    def names(query) -> list[str]:
        return sorted(row["name"] for row in query.execute().data)

    assert names(table.select("name").eq("tag", tag).neq("n", 1).lt("n", 3)) == ["r0", "r2"]
    assert names(table.select("name").eq("tag", tag).gte("n", 3)) == ["r3", "r4"]
    assert names(table.select("name").eq("tag", tag).gt("n", 3).lte("n", 4)) == ["r4"]
    assert names(table.select("name").eq("tag", tag).in_("name", ["r1", "r4", "zz"])) == ["r1", "r4"]
    assert names(table.select("name").eq("tag", tag).like("name", "%3")) == ["r3"]
    assert names(table.select("name").eq("tag", tag).ilike("name", "R4")) == ["r4"]
    assert names(table.select("name").eq("tag", tag).is_("n", "null")) == []
    assert names(table.select("name").eq("tag", tag).not_.in_("n", [0, 1, 2])) == ["r3", "r4"]
    assert names(table.select("name").eq("tag", tag).or_("n.eq.0,and(n.gt.2,name.neq.r4)")) == ["r0", "r3"]
    assert names(table.select("name").eq("tag", tag).contains("data", {"i": 2})) == ["r2"]


def test_order_nulls_first(service: Client, tag: str):
    service.table("rest_probe").insert([{"tag": tag, "name": "x", "n": 1}, {"tag": tag, "name": "y"}]).execute()
    data = service.table("rest_probe").select("name").eq("tag", tag).order("n", nullsfirst=True).execute().data
    assert [row["name"] for row in data] == ["y", "x"]


def test_count_exact_with_range(service: Client, tag: str):
    seed(service, tag, 4)
    result = service.table("rest_probe").select("name", count="exact").eq("tag", tag).order("n").range(1, 2).execute()
    assert [row["name"] for row in result.data] == ["r1", "r2"]
    assert result.count == 4


def test_head_count_has_no_body(service: Client, tag: str):
    seed(service, tag, 3)
    result = service.table("rest_probe").select("*", count="exact", head=True).eq("tag", tag).execute()
    assert result.data == [] and result.count == 3


def test_content_range_and_partial_status(stack: StackState, rest_schema: None, service: Client, tag: str):
    seed(service, tag, 3)
    headers = {"apikey": stack.service_role_key, "Prefer": "count=exact"}
    url = f"{stack.supabase_url}/rest/v1/rest_probe"
    full = httpx.get(url, params={"select": "name", "tag": f"eq.{tag}"}, headers=headers)
    assert full.status_code == 200 and full.headers["content-range"] == "0-2/3"
    ranged = httpx.get(url, params={"select": "name", "tag": f"eq.{tag}"}, headers={**headers, "Range": "1-1"})
    assert ranged.status_code == 206 and ranged.headers["content-range"] == "1-1/3"
    head = httpx.head(url, params={"tag": f"eq.{tag}"}, headers=headers)
    assert head.content == b"" and head.headers["content-range"] == "0-2/3"


def test_single_and_maybe_single(service: Client, tag: str):
    seed(service, tag, 2)
    table = service.table("rest_probe")
    assert table.select("name").eq("tag", tag).eq("name", "r1").single().execute().data == {"name": "r1"}
    assert table.select("name").eq("tag", tag).eq("name", "none").maybe_single().execute() is None
    with pytest.raises(APIError) as many:
        table.select("name").eq("tag", tag).single().execute()
    assert many.value.code == "PGRST116" and many.value.details == "The result contains 2 rows"


def test_update(service: Client, tag: str):
    seed(service, tag, 2)
    data = service.table("rest_probe").update({"n": 99, "data": {"ok": True}}).eq("tag", tag).eq("name", "r0") \
        .execute().data
    assert [(row["name"], row["n"], row["data"]) for row in data] == [("r0", 99, {"ok": True})]
    minimal = service.table("rest_probe").update({"n": 5}, returning="minimal").eq("tag", tag).execute()
    assert minimal.data == []
    assert {row["n"] for row in service.table("rest_probe").select("n").eq("tag", tag).execute().data} == {5}


def test_single_update_rolls_back_when_not_one_row(service: Client, tag: str):
    seed(service, tag, 2)
    with pytest.raises(APIError) as err:
        service.table("rest_probe").update({"n": 7}).eq("tag", tag).single().execute()
    assert err.value.code == "PGRST116"
    assert {row["n"] for row in service.table("rest_probe").select("n").eq("tag", tag).execute().data} == {0, 1}


def test_upsert_merge_and_ignore(service: Client, tag: str):
    seed(service, tag, 1)
    merged = service.table("rest_probe").upsert({"tag": tag, "name": "r0", "n": 50}, on_conflict="tag,name") \
        .execute().data
    assert [(row["name"], row["n"]) for row in merged] == [("r0", 50)]
    ignored = service.table("rest_probe").upsert([{"tag": tag, "name": "r0", "n": 60}, {"tag": tag, "name": "new"}],
                                                 on_conflict="tag,name", ignore_duplicates=True).execute().data
    assert [row["name"] for row in ignored] == ["new"]
    rows = service.table("rest_probe").select("name,n").eq("tag", tag).order("name").execute().data
    assert rows == [{"name": "new", "n": None}, {"name": "r0", "n": 50}]


def test_upsert_on_primary_key_by_default(service: Client, tag: str):
    row = seed(service, tag, 1)[0]
    service.table("rest_secret").upsert({"id": 1, "secret": "hidden"}).execute()
    data = service.table("rest_secret").upsert({"id": 1, "secret": "changed"}).execute().data
    assert data == [{"id": 1, "secret": "changed"}]
    service.table("rest_secret").update({"secret": "hidden"}).eq("id", 1).execute()
    assert row["id"] > 0


def test_delete(service: Client, tag: str):
    seed(service, tag, 3)
    deleted = service.table("rest_probe").delete().eq("tag", tag).lt("n", 2).execute().data
    assert sorted(row["name"] for row in deleted) == ["r0", "r1"]
    counted = service.table("rest_probe").delete(count="exact", returning="minimal").eq("tag", tag).execute()
    assert counted.count == 1


def test_view_is_served(service: Client, tag: str):
    seed(service, tag, 2)
    data = service.table("rest_probe_names").select("name").eq("tag", tag).order("name").execute().data
    assert data == [{"name": "r0"}, {"name": "r1"}]


def test_large_body_insert(service: Client, tag: str):
    blob = "x" * (1024 * 1024)
    data = service.table("rest_probe").insert({"tag": tag, "name": "big", "data": {"blob": blob}}).execute().data
    assert len(data[0]["data"]["blob"]) == len(blob)
    rows = [{"tag": tag, "name": f"bulk{i}", "n": i} for i in range(2000)]
    assert service.table("rest_probe").insert(rows, count="exact", returning="minimal").execute().count == 2000


async def test_async_client_round_trip(aservice: AsyncClient, tag: str):
    inserted = await aservice.table("rest_probe").insert({"tag": tag, "name": "async"}).execute()
    assert inserted.data[0]["name"] == "async"
    fetched = await aservice.table("rest_probe").select("name", count="exact").eq("tag", tag).execute()
    assert fetched.data == [{"name": "async"}] and fetched.count == 1
    updated = await aservice.table("rest_probe").update({"n": 3}).eq("tag", tag).execute()
    assert updated.data[0]["n"] == 3
    removed = await aservice.table("rest_probe").delete().eq("tag", tag).execute()
    assert len(removed.data) == 1
