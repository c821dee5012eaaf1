"""The settings of the role a request runs as (``alter role ... set statement_timeout``) apply inside the
request, as PostgREST applies them: ``set role`` alone would not."""
# ruff: noqa: F811 - fixtures imported from rest_support are redefined as test parameters

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError
from psycopg import sql
from supabase import Client, create_client

from stack_support.rest import anon, rest_schema, service  # noqa: F401
from supabase_local.keys import sign_role_key
from supabase_local.state import StackState
from supabase_local.testing import eventually

pytestmark = pytest.mark.timeout(60)

PROBE_ROLE = "rest_timeout_probe"
PROBE_TIMEOUT = "50ms"


def setting(client: Client, name: str) -> str:
    return client.rpc("rest_setting", {"name": name}).execute().data


def test_each_api_role_runs_with_its_own_statement_timeout(anon: Client, service: Client):
    assert setting(anon, "statement_timeout") == "3s"
    assert setting(service, "statement_timeout") == "8s"  # service_role has none: the gateway login's own


def _drop_probe_role(conn: psycopg.Connection) -> None:
    if conn.execute("select 1 from pg_roles where rolname = %s", [PROBE_ROLE]).fetchone():
        conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(PROBE_ROLE)))
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(PROBE_ROLE)))


@pytest.fixture
def probe_role(stack: StackState, rest_schema: None) -> Iterator[str]:
    """A role with a tiny statement_timeout that the gateway may switch to; yields a key for it (made by the
    platform's admin: a role the gateway's login may become is the platform's business)."""
    role = sql.Identifier(PROBE_ROLE)
    with psycopg.connect(stack.admin_url, autocommit=True) as conn:
        _drop_probe_role(conn)
        conn.execute(sql.SQL("create role {} nologin noinherit").format(role))
        conn.execute(sql.SQL("alter role {} set statement_timeout = {}").format(role, sql.Literal(PROBE_TIMEOUT)))
        conn.execute(sql.SQL("grant {} to authenticator").format(role))
        conn.execute(sql.SQL("grant usage on schema public to {}").format(role))
        conn.execute("notify pgrst, 'reload config'")
    yield sign_role_key(stack.jwt_secret, PROBE_ROLE)
    with psycopg.connect(stack.admin_url, autocommit=True) as conn:
        _drop_probe_role(conn)


def test_a_statement_over_the_role_timeout_is_cancelled(stack: StackState, probe_role: str):
    client = create_client(stack.supabase_url, probe_role)
    eventually(lambda: setting(client, "statement_timeout") == PROBE_TIMEOUT, what="role settings reloaded")
    with pytest.raises(APIError) as err:
        client.rpc("rest_sleep", {"seconds": 5}).execute()
    assert (err.value.code, err.value.message) == ("57014", "canceling statement due to statement timeout")
    response = httpx.post(f"{stack.supabase_url}/rest/v1/rpc/rest_sleep", json={"seconds": 5},
                          headers={"apikey": probe_role, "Authorization": f"Bearer {probe_role}"})
    assert response.status_code == 500 and response.json()["code"] == "57014"
    assert client.rpc("rest_sleep", {"seconds": 0}).execute().data == 1
