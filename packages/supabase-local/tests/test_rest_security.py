"""Who may do what through ``/rest/v1``: JWT checks, roles, grants and RLS, schemas, error shapes, and
injection attempts that must be refused cleanly with nothing changed."""
# ruff: noqa: F811 - fixtures imported from rest_support are redefined as test parameters

from __future__ import annotations

import time

import httpx
import jwt
import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import Client, create_client

from stack_support.rest import anon, rest_schema, service, tag  # noqa: F401
from supabase_local.state import StackState

pytestmark = pytest.mark.timeout(60)


def rest(stack: StackState, path: str, method: str = "GET", key: str | None = None, **kwargs) -> httpx.Response:
    headers = list(dict(kwargs.pop("headers", {})).items()) if isinstance(kwargs.get("headers"), dict) \
        else kwargs.pop("headers", [])
    if key is not None:
        headers = [("apikey", key), ("Authorization", f"Bearer {key}"), *headers]
    return httpx.request(method, f"{stack.supabase_url}/rest/v1/{path}", headers=headers, **kwargs)


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"code", "message", "details", "hint"}
    return response.status_code, body["code"]


def test_missing_key_is_401(stack: StackState, rest_schema: None):
    assert error_of(rest(stack, "rest_probe")) == (401, "PGRST302")


def test_forged_and_expired_tokens_are_401(stack: StackState, rest_schema: None):
    forged = jwt.encode({"role": "service_role"}, "not-the-secret-but-long-enough-for-hs256!", algorithm="HS256")
    assert error_of(rest(stack, "rest_probe", key=forged)) == (401, "PGRST301")
    expired = jwt.encode({"role": "anon", "exp": int(time.time()) - 10}, stack.jwt_secret, algorithm="HS256")
    response = rest(stack, "rest_probe", key=expired)
    assert error_of(response) == (401, "PGRST303") and response.json()["message"] == "JWT expired"
    assert "invalid_token" in response.headers["www-authenticate"]
    assert error_of(rest(stack, "rest_probe", key="not.a.jwt")) == (401, "PGRST301")


def test_claims_and_request_settings_reach_sql(stack: StackState, rest_schema: None):
    token = jwt.encode({"role": "authenticated", "sub": "user-1", "exp": int(time.time()) + 60}, stack.jwt_secret,
                       algorithm="HS256")
    client = create_client(stack.supabase_url, stack.anon_key)
    client.postgrest.auth(token)
    data = client.rpc("rest_claims", {}).execute().data
    assert data["role"] == "authenticated" and data["claim_role"] == "authenticated"
    assert data["claims"]["sub"] == "user-1"
    assert data["method"] == "POST" and data["path"] == "/rest/v1/rpc/rest_claims"


def test_rls_filters_anon_reads(anon: Client, service: Client, tag: str):
    service.table("rest_probe").insert([{"tag": tag, "name": "mine", "owner": "anon"}, {"tag": tag, "name": "theirs",
                                                                        "owner": "svc"}]).execute()
    assert anon.table("rest_probe").select("name").eq("tag", tag).execute().data == [{"name": "mine"}]
    assert len(service.table("rest_probe").select("name").eq("tag", tag).execute().data) == 2


def test_rls_allows_and_denies_anon_inserts(stack: StackState, anon: Client, service: Client, tag: str):
    assert anon.table("rest_probe").insert({"tag": tag, "name": "ok"}).execute().data[0]["name"] == "ok"
    with pytest.raises(APIError) as denied:
        anon.table("rest_probe").insert({"tag": tag, "name": "bad", "owner": "svc"}).execute()
    assert denied.value.code == "42501"
    response = rest(stack, "rest_probe", "POST", stack.anon_key, json={"tag": tag, "name": "bad2", "owner": "x"})
    assert error_of(response) == (401, "42501")
    assert [r["name"] for r in service.table("rest_probe").select("name").eq("tag", tag).execute().data] == ["ok"]


def test_grants_deny_anon_update_delete_and_hidden_tables(stack: StackState, anon: Client, service: Client,
                                                          tag: str):
    service.table("rest_probe").insert({"tag": tag, "name": "keep", "n": 1}).execute()
    with pytest.raises(APIError) as update:
        anon.table("rest_probe").update({"n": 2}).eq("tag", tag).execute()
    assert update.value.code == "42501"
    with pytest.raises(APIError) as delete:
        anon.table("rest_probe").delete().eq("tag", tag).execute()
    assert delete.value.code == "42501"
    with pytest.raises(APIError) as secret:
        anon.table("rest_secret").select("*").execute()
    assert secret.value.code == "42501"
    with pytest.raises(APIError) as function:
        anon.rpc("rest_scalar", {}).execute()
    assert function.value.code == "42501"
    assert service.table("rest_probe").select("n").eq("tag", tag).execute().data == [{"n": 1}]


def test_authenticated_denial_is_403(stack: StackState, rest_schema: None):
    token = jwt.encode({"role": "authenticated", "exp": int(time.time()) + 60}, stack.jwt_secret, algorithm="HS256")
    response = rest(stack, "rest_secret", key=token)
    assert error_of(response) == (403, "42501")


def test_schema_profiles(stack: StackState, service: Client):
    with pytest.raises(APIError) as refused:
        service.schema("pg_catalog").table("pg_authid").select("*").execute()
    assert refused.value.code == "PGRST106"
    response = rest(stack, "rest_probe", key=stack.service_role_key, headers={"Accept-Profile": "private"})
    assert error_of(response) == (406, "PGRST106")
    both = rest(stack, "rest_probe?limit=1", key=stack.service_role_key,
                headers=[("accept-profile", "public"), ("X-Client-Info", "a"), ("x-client-info", "b")])
    assert both.status_code == 200


def test_error_statuses(stack: StackState, service: Client, tag: str):
    key = stack.service_role_key
    service.table("rest_probe").insert({"tag": tag, "name": "dup"}).execute()
    assert error_of(rest(stack, "rest_probe", "POST", key, json={"tag": tag, "name": "dup"})) == (409, "23505")
    assert error_of(rest(stack, "rest_probe", "POST", key, json={"tag": tag})) == (400, "23502")
    assert error_of(rest(stack, "nope_table", key=key)) == (404, "PGRST205")
    assert error_of(rest(stack, "rpc/nope_fn", "POST", key, json={})) == (404, "PGRST202")
    assert error_of(rest(stack, "rest_probe?n=zz.1", key=key)) == (400, "PGRST100")
    assert error_of(rest(stack, "rest_probe?n=eq.notanumber", key=key)) == (400, "22P02")
    assert error_of(rest(stack, "rest_probe", "POST", key, content=b"{not json",
                         headers={"Content-Type": "application/json"})) == (400, "PGRST102")
    assert error_of(rest(stack, "rest_probe", "POST", key, json={"tag": tag, "nope": 1})) == (400, "PGRST204")
    single = rest(stack, f"rest_probe?tag=eq.{tag}&name=eq.none", key=key,
                  headers={"Accept": "application/vnd.pgrst.object+json"})
    assert error_of(single) == (406, "PGRST116")
    head = httpx.head(f"{stack.supabase_url}/rest/v1/nope_table", headers={"apikey": key})
    assert head.status_code == 404 and head.content == b""


INJECTIONS = ["x'; drop table rest_probe; --", 'x") or 1=1 --', "1 or 1=1", "x\\'", "$$; select 1; $$"]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_filter_values_is_just_a_value(service: Client, tag: str, payload: str):
    service.table("rest_probe").insert({"tag": tag, "name": "safe"}).execute()
    assert service.table("rest_probe").select("name").eq("tag", tag).eq("name", payload).execute().data == []
    assert service.table("rest_probe").select("name").eq("tag", tag).in_("name", [payload, "safe"]) \
        .execute().data == [{"name": "safe"}]
    quoted = payload.replace("\\", "\\\\").replace('"', '\\"')
    assert service.table("rest_probe").select("name").eq("tag", tag).or_(f'name.eq."{quoted}"').execute().data == []
    assert service.table("rest_probe").select("name").eq("tag", tag).execute().data == [{"name": "safe"}]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_names_is_refused(stack: StackState, service: Client, db: psycopg.Connection, tag: str,
                                       payload: str):
    service.table("rest_probe").insert({"tag": tag, "name": "safe"}).execute()
    table = service.table("rest_probe")
    attempts = [
        lambda: table.select(payload).execute(),
        lambda: table.select("name").eq(payload, "x").execute(),
        lambda: table.select("name").order(payload).execute(),
        lambda: table.insert({"tag": tag, "name": "n", payload: 1}).execute(),
        lambda: table.upsert({"tag": tag, "name": "n"}, on_conflict=payload).execute(),
        lambda: service.table(payload).select("*").execute(),
        lambda: service.rpc(payload, {}).execute(),
        lambda: service.rpc("rest_add", {payload: 1}).execute(),
    ]
    for attempt in attempts:
        with pytest.raises(APIError) as err:
            attempt()
        assert err.value.code in ("42703", "PGRST100", "PGRST108", "PGRST200", "PGRST202", "PGRST204",
                                  "PGRST205"), err.value
    assert db.execute("select count(*) from rest_probe where tag = %s", [tag]).fetchone()[0] == 1


def test_new_table_and_user_notify_reload(stack: StackState, service: Client, db: psycopg.Connection):
    db.execute("drop table if exists rest_fresh; create table rest_fresh (id int primary key, label text)")
    assert service.table("rest_fresh").insert({"id": 1, "label": "new"}).execute().data == [{"id": 1,
                                                                                          "label": "new"}]
    db.execute("alter table rest_fresh add column extra text")
    assert service.table("rest_fresh").update({"extra": "x"}).eq("id", 1).execute().data[0]["extra"] == "x"
    db.execute("notify pgrst, 'reload schema'")
    db.execute("drop table rest_fresh")
    with pytest.raises(APIError) as gone:
        service.table("rest_fresh").select("*").execute()
    assert gone.value.code in ("PGRST205", "42P01")


@pytest.mark.parametrize("key", ["%(p0)s", "%(p1)s'", "50%", "\\%(p2)s"])
def test_placeholders_in_json_keys_and_aliases_are_text(stack: StackState, service: Client, tag: str, key: str):
    """Values are bound on the client: a ``%(name)s`` the request writes into a JSON key or an alias must stay
    text, never become a place where another filter's value is spliced into the statement."""
    service.table("rest_probe").insert({"tag": tag, "name": "keyed", "data": {key: "hit"}}).execute()
    service.table("rest_probe").insert({"tag": tag, "name": "other", "data": {"k": "x') or true --"}}).execute()
    found = rest(stack, "rest_probe", key=stack.service_role_key,
                 params=[("select", "name"), (f"data->>{key}", "eq.hit"), ("tag", f"eq.{tag}"),
                         ("name", "eq.x') or true --")])
    assert found.status_code == 200 and found.json() == []
    found = rest(stack, "rest_probe", key=stack.service_role_key,
                 params=[("select", "name,p%s:n,50%:tag"), (f"data->>{key}", "eq.hit"), ("tag", f"eq.{tag}")])
    assert found.status_code == 200 and found.json() == [{"name": "keyed", "p%s": None, "50%": tag}]
