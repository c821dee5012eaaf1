"""How a REST request reaches the database: a read in one round trip, a write in an explicit transaction.
Whatever fails, every pooled connection goes back idle (never left inside a transaction), and the next
requests on it see none of the failed request's settings or changes."""
# ruff: noqa: F811 - fixtures imported from rest_support are redefined as test parameters

from __future__ import annotations

import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import Client

from stack_support.rest import anon, rest_schema, service, tag  # noqa: F401
from supabase_local.state import StackState

pytestmark = pytest.mark.timeout(60)


def gateway_states(stack: StackState) -> set[str]:
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        rows = conn.execute("select state from pg_stat_activity where application_name = 'supabase_local.rest' "
                            "and pid <> pg_backend_pid()").fetchall()
    return {state for (state,) in rows}


def test_failed_requests_leave_every_connection_idle(stack: StackState, service: Client, anon: Client, tag: str):
    table = service.table("rest_probe")
    table.insert({"tag": tag, "name": "a"}).execute()
    table.insert({"tag": tag, "name": "b"}).execute()
    with pytest.raises(APIError) as duplicate:
        table.insert({"tag": tag, "name": "a"}).execute()
    assert duplicate.value.code == "23505"
    with pytest.raises(APIError) as not_one:
        table.update({"n": 7}).eq("tag", tag).single().execute()
    assert not_one.value.code == "PGRST116"
    with pytest.raises(APIError) as read_only:
        service.rpc("rest_void", {"p_tag": tag}, get=True).execute()
    assert read_only.value.code == "25006"
    with pytest.raises(APIError) as denied:
        anon.table("rest_secret").select("*").execute()
    assert denied.value.code == "42501"
    assert gateway_states(stack) <= {"idle"}
    assert {row["n"] for row in table.select("n").eq("tag", tag).execute().data} == {None}
    claims = service.rpc("rest_claims", {}).execute().data
    assert claims["role"] == "service_role" and claims["read_only"] == "off"
    assert anon.rpc("rest_claims", {}, get=True).execute().data["role"] == "anon"


def test_requests_survive_a_session_that_deallocated_its_statements(stack: StackState, service: Client, tag: str):
    """A function may run ``deallocate all`` in the gateway's session; the next request there prepares again."""
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute("create or replace function rest_deallocate() returns int language plpgsql as "
                     "$$ begin execute 'deallocate all'; return 1; end $$; notify pgrst, 'reload schema'")
    for _ in range(12):  # more calls than pooled connections, so every one of them has run it
        assert service.rpc("rest_deallocate", {}).execute().data == 1
    table = service.table("rest_probe")
    for n in range(12):
        assert table.insert({"tag": tag, "name": f"after-{n}"}).execute().data[0]["name"] == f"after-{n}"
        assert len(table.select("name").eq("tag", tag).execute().data) == n + 1
