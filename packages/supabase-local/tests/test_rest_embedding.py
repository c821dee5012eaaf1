"""Resource embedding through supabase-py and raw HTTP (PostgREST docs: Resource Embedding): many-to-one,
one-to-many, many-to-many through a junction table, ``!inner``, hints, aliases, spreads, scoped filters, order
and page, nested embeds, RLS on embedded tables, and PGRST200/PGRST201 bodies."""
# ruff: noqa: F811 - fixtures imported from rest_support are redefined as test parameters

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from supabase import AsyncClient, Client

from stack_support.rest import anon, aservice, rest_schema, service  # noqa: F401
from supabase_local.state import StackState

pytestmark = pytest.mark.timeout(60)

EMBED_SQL = """
drop table if exists emb_musician_instruments, emb_instruments, emb_musicians, emb_orchestras, emb_shipments,
  emb_cities, emb_countries cascade;
create table emb_countries (id int primary key, name text not null);
create table emb_cities (id int primary key, name text not null, country_id int references emb_countries,
                         hidden boolean not null default false);
create table emb_shipments (id int primary key, origin_id int constraint emb_shipments_origin_fkey
                              references emb_countries, dest_id int constraint emb_shipments_dest_fkey
                              references emb_countries);
create table emb_orchestras (id int primary key, name text not null);
create table emb_musicians (id int primary key, name text not null, orchestra_id int references emb_orchestras,
                            info jsonb);
create table emb_instruments (id int primary key, name text not null);
create table emb_musician_instruments (musician_id int references emb_musicians,
                                       instrument_id int references emb_instruments,
                                       primary key (musician_id, instrument_id));
insert into emb_countries values (1, 'France'), (2, 'Japan'), (3, 'Chile');
insert into emb_cities values (1, 'Paris', 1, false), (2, 'Lyon', 1, false), (3, 'Nice', 1, true),
  (4, 'Tokyo', 2, false), (5, 'Osaka', 2, false);
insert into emb_shipments values (1, 1, 2);
insert into emb_orchestras values (1, 'Berlin Phil'), (2, 'Vienna Phil');
insert into emb_musicians values (1, 'Anna', 1, '{"section": {"name": "strings"}, "n": 3}'),
  (2, 'Ben', 1, '{"section": {"name": "brass"}, "n": 1}'), (3, 'Cleo', 2, '{"section": {"name": "strings"}, "n": 2}');
insert into emb_instruments values (1, 'violin'), (2, 'viola'), (3, 'trumpet');
insert into emb_musician_instruments values (1, 1), (1, 2), (2, 3), (3, 1);
alter table emb_cities enable row level security;
create policy anon_sees_shown on emb_cities for select to anon using (not hidden);
create policy service_sees_all on emb_cities for select to service_role using (true);
grant select on emb_countries, emb_cities to anon;
"""


@pytest.fixture(scope="module")
def embed_schema(stack: StackState, rest_schema: None) -> Iterator[None]:
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(EMBED_SQL)
    yield


def get(stack: StackState, path: str, params: dict[str, str] | list[tuple[str, str]],
        headers: dict[str, str] | None = None) -> httpx.Response:
    key = stack.service_role_key
    return httpx.get(f"{stack.supabase_url}/rest/v1/{path}", params=params,
                     headers={"apikey": key, "Authorization": f"Bearer {key}", **(headers or {})})


def test_many_to_one_and_one_to_many(service: Client, embed_schema: None):
    cities = service.table("emb_cities").select("name,emb_countries(name)").eq("id", 4).execute().data
    assert cities == [{"name": "Tokyo", "emb_countries": {"name": "Japan"}}]
    countries = service.table("emb_countries").select("name,emb_cities(name)").eq("id", 2).execute().data
    assert countries == [{"name": "Japan", "emb_cities": [{"name": "Tokyo"}, {"name": "Osaka"}]}]
    empty = service.table("emb_countries").select("name,emb_cities(name)").eq("id", 3).execute().data
    assert empty == [{"name": "Chile", "emb_cities": []}]


def test_many_to_many_through_the_junction(service: Client, embed_schema: None):
    data = service.table("emb_musicians").select("name,emb_instruments(name)").order("id").limit(2).execute().data
    assert data == [{"name": "Anna", "emb_instruments": [{"name": "violin"}, {"name": "viola"}]},
                    {"name": "Ben", "emb_instruments": [{"name": "trumpet"}]}]


def test_scoped_filters_order_limit_and_or(stack: StackState, embed_schema: None):
    response = get(stack, "emb_countries", [("select", "name,emb_cities(name)"), ("id", "eq.1"),
                                           ("emb_cities.order", "name.desc"), ("emb_cities.limit", "2")])
    assert response.json() == [{"name": "France", "emb_cities": [{"name": "Paris"}, {"name": "Nice"}]}]
    response = get(stack, "emb_countries", [("select", "name,emb_cities(name)"), ("id", "eq.1"),
                                           ("emb_cities.or", "(name.eq.Lyon,name.eq.Nice)"),
                                           ("emb_cities.order", "name")])
    assert response.json() == [{"name": "France", "emb_cities": [{"name": "Lyon"}, {"name": "Nice"}]}]
    response = get(stack, "emb_musicians", [("select", "name,emb_instruments(name)"), ("id", "eq.1"),
                                           ("emb_instruments.order", "name.desc")])
    assert response.json()[0]["emb_instruments"] == [{"name": "violin"}, {"name": "viola"}]


def test_inner_join_filters_parents(service: Client, embed_schema: None):
    data = service.table("emb_countries").select("name,emb_cities!inner(name)").eq("emb_cities.name", "Osaka") \
        .execute().data
    assert data == [{"name": "Japan", "emb_cities": [{"name": "Osaka"}]}]
    left = service.table("emb_countries").select("name,emb_cities(name)").eq("emb_cities.name", "Osaka") \
        .order("id").execute().data
    assert [(c["name"], c["emb_cities"]) for c in left] == [("France", []), ("Japan", [{"name": "Osaka"}]),
                                                            ("Chile", [])]


def test_alias_spread_and_nested(service: Client, embed_schema: None):
    data = service.table("emb_cities").select("name,country:emb_countries(name)").eq("id", 1).execute().data
    assert data == [{"name": "Paris", "country": {"name": "France"}}]
    spread = service.table("emb_cities").select("name,...emb_countries(country_name:name)").eq("id", 5) \
        .execute().data
    assert spread == [{"name": "Osaka", "country_name": "Japan"}]
    nested = service.table("emb_orchestras").select("name,emb_musicians(name,emb_instruments(name))") \
        .eq("id", 2).execute().data
    assert nested == [{"name": "Vienna Phil", "emb_musicians": [{"name": "Cleo",
                                                                  "emb_instruments": [{"name": "violin"}]}]}]


async def test_async_client_embeds(aservice: AsyncClient, embed_schema: None):
    result = await aservice.table("emb_countries").select("name,emb_cities(name)").eq("id", 2).execute()
    assert result.data == [{"name": "Japan", "emb_cities": [{"name": "Tokyo"}, {"name": "Osaka"}]}]


def test_rls_applies_to_embedded_tables(anon: Client, service: Client, embed_schema: None):
    seen = anon.table("emb_countries").select("name,emb_cities(name)").eq("id", 1).execute().data
    assert [c["name"] for c in seen[0]["emb_cities"]] == ["Paris", "Lyon"]
    everything = service.table("emb_countries").select("emb_cities(name)").eq("id", 1).execute().data
    assert len(everything[0]["emb_cities"]) == 3


def test_ambiguous_embed_is_pgrst201_and_hint_disambiguates(stack: StackState, service: Client, embed_schema: None):
    response = get(stack, "emb_shipments", {"select": "id,emb_countries(name)"})
    assert response.status_code == 300
    body = response.json()
    assert body["code"] == "PGRST201"
    assert body["message"] == ("Could not embed because more than one relationship was found for 'emb_shipments' "
                               "and 'emb_countries'")
    assert body["details"] == [
        {"cardinality": "many-to-one", "embedding": "emb_shipments with emb_countries",
         "relationship": "emb_shipments_dest_fkey using emb_shipments(dest_id) and emb_countries(id)"},
        {"cardinality": "many-to-one", "embedding": "emb_shipments with emb_countries",
         "relationship": "emb_shipments_origin_fkey using emb_shipments(origin_id) and emb_countries(id)"}]
    assert body["hint"] == ("Try changing 'emb_countries' to one of the following: "
                            "'emb_countries!emb_shipments_dest_fkey', 'emb_countries!emb_shipments_origin_fkey'. "
                            "Find the desired relationship in the 'details' key.")
    data = service.table("emb_shipments").select(
        "id,origin:emb_countries!emb_shipments_origin_fkey(name),dest:emb_countries!dest_id(name)").execute().data
    assert data == [{"id": 1, "origin": {"name": "France"}, "dest": {"name": "Japan"}}]


def test_no_relationship_is_pgrst200(stack: StackState, embed_schema: None):
    response = get(stack, "emb_countries", {"select": "name,emb_citiez(name)"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "PGRST200",
        "message": "Could not find a relationship between 'emb_countries' and 'emb_citiez' in the schema cache",
        "details": "Searched for a foreign key relationship between 'emb_countries' and 'emb_citiez' in the schema "
                   "'public', but no matches were found.",
        "hint": "Perhaps you meant 'emb_cities' instead of 'emb_citiez'."}
    with_hint = get(stack, "emb_countries", {"select": "name,emb_cities!nope(name)"}).json()
    assert with_hint["details"] == ("Searched for a foreign key relationship between 'emb_countries' and "
                                    "'emb_cities' using the hint 'nope' in the schema 'public', but no matches "
                                    "were found.")


def test_scoped_parameter_without_embed_is_pgrst108(stack: StackState, embed_schema: None):
    response = get(stack, "emb_countries", {"select": "name", "emb_cities.name": "eq.Paris"})
    assert response.status_code == 400 and response.json()["code"] == "PGRST108"


def test_spread_on_to_many_is_refused(stack: StackState, embed_schema: None):
    response = get(stack, "emb_countries", {"select": "name,...emb_cities(name)"})
    assert response.status_code == 400 and response.json()["code"] == "PGRST119"


def test_mutation_returns_embeds(service: Client, embed_schema: None):
    data = service.table("emb_cities").insert({"id": 90, "name": "Kyoto", "country_id": 2}) \
        .select("name,emb_countries(name)").execute().data
    assert data == [{"name": "Kyoto", "emb_countries": {"name": "Japan"}}]
    service.table("emb_cities").delete().eq("id", 90).execute()
