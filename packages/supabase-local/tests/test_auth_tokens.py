"""Forged, expired and wrong-audience tokens are refused by Auth, REST and Realtime alike, each with the answer
its hosted counterpart gives; a real user's token is accepted by all three."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from psycopg import sql
from supabase import AsyncClient, acreate_client

from stack_support.auth import auth_call, new_email, user_token
from stack_support.realtime import Inbox
from supabase_local.state import StackState
from supabase_local.testing import eventually

BAD_TOKENS = {
    "forged": lambda stack: user_token(stack, secret="not-the-project-secret-" * 2),
    "expired": lambda stack: user_token(stack, exp=int(time.time()) - 60),
    "wrong audience": lambda stack: user_token(stack, aud="someone-else"),
}


@pytest.fixture
def signed_in(stack: StackState) -> dict[str, object]:
    """A fresh anonymous user's session body."""
    answer = auth_call(stack, "POST", "signup", json={})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_auth_refuses_forged_and_expired_tokens(stack: StackState) -> None:
    for name in ("forged", "expired"):
        answer = auth_call(stack, "GET", "user", token=BAD_TOKENS[name](stack))
        assert answer.status_code == 403, name
        assert answer.json()["code"] == "bad_jwt" and answer.headers["x-sb-error-code"] == "bad_jwt"


def test_auth_refuses_a_wrong_audience_and_an_unknown_user(stack: StackState, signed_in: dict[str, object]) -> None:
    user_id = signed_in["user"]["id"]  # type: ignore[index]
    wrong = auth_call(stack, "GET", "user", token=user_token(stack, sub=user_id, aud="someone-else", session_id=None))
    assert (wrong.status_code, wrong.json()["message"]) == (400, "Token audience doesn't match request audience")
    unknown = auth_call(stack, "GET", "user", token=user_token(stack))
    assert (unknown.status_code, unknown.json()["code"]) == (403, "user_not_found")
    no_sub = auth_call(stack, "GET", "user")  # the anon key has no sub
    assert (no_sub.status_code, no_sub.json()["code"]) == (403, "bad_jwt")
    missing = httpx.get(f"{stack.supabase_url}/auth/v1/user", headers={"apikey": stack.anon_key})
    assert (missing.status_code, missing.json()["error_code"]) == (401, "no_authorization")


def test_admin_api_needs_an_admin_role(stack: StackState, signed_in: dict[str, object]) -> None:
    for token in (stack.anon_key, str(signed_in["access_token"])):
        answer = auth_call(stack, "GET", "admin/users", token=token)
        assert (answer.status_code, answer.json()["code"]) == (403, "not_admin")


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_rest_refuses_bad_tokens(stack: StackState, name: str) -> None:
    answer = httpx.get(f"{stack.supabase_url}/rest/v1/job_stats_absent_table",
                       headers={"apikey": stack.anon_key, "Authorization": f"Bearer {BAD_TOKENS[name](stack)}"})
    assert answer.status_code == 401
    assert answer.json()["code"] in ("PGRST301", "PGRST303")


def test_rest_accepts_a_signed_in_users_token(stack: StackState, signed_in: dict[str, object]) -> None:
    answer = httpx.post(f"{stack.supabase_url}/rest/v1/rpc/absent_function_for_auth_test", json={},
                        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {signed_in['access_token']}"})
    assert answer.status_code == 404  # past authentication: the function is what is missing


@pytest.fixture
async def realtime_client(stack: StackState) -> AsyncIterator[AsyncClient]:
    client = await acreate_client(stack.supabase_url, stack.anon_key)
    yield client
    await client.realtime.remove_all_channels()


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
async def test_realtime_refuses_bad_tokens(stack: StackState, realtime_client: AsyncClient, name: str) -> None:
    await realtime_client.realtime.set_auth(BAD_TOKENS[name](stack))
    states = Inbox()
    channel = realtime_client.channel(f"bad-token-{name.replace(' ', '-')}")
    await channel.subscribe(lambda state, error: states((str(state.value), error)))
    state, error = await states.next()
    assert state == "CHANNEL_ERROR" and error is not None


async def test_realtime_accepts_a_signed_in_users_token(stack: StackState, realtime_client: AsyncClient,
                                                        signed_in: dict[str, object]) -> None:
    await realtime_client.realtime.set_auth(str(signed_in["access_token"]))
    states = Inbox()
    channel = realtime_client.channel("signed-in-user")
    await channel.subscribe(lambda state, error: states((str(state.value), error)))
    assert (await states.next())[0] == "SUBSCRIBED"


def test_auth_functions_see_the_signed_in_user_over_rest(stack: StackState, db: psycopg.Connection) -> None:
    """auth.uid(), auth.role(), auth.email() and auth.jwt() as hosted defines them, fed by the gateway's claims."""
    email = new_email()
    session = auth_call(stack, "POST", "signup", json={"email": email, "password": "correct horse"}).json()
    name = f"whoami_{uuid.uuid4().hex[:8]}"
    db.execute(sql.SQL("create function public.{}() returns jsonb language sql stable as $$ select "
                       "jsonb_build_object('uid', auth.uid(), 'role', auth.role(), 'email', auth.email(), "
                       "'aud', auth.jwt() ->> 'aud') $$").format(sql.Identifier(name)))
    try:
        url = f"{stack.supabase_url}/rest/v1/rpc/{name}"
        headers = {"apikey": stack.anon_key, "Authorization": f"Bearer {session['access_token']}"}
        # the schema cache follows the DDL a moment later
        answer = eventually(lambda: (found := httpx.post(url, json={}, headers=headers)).status_code != 404 and found,
                            what="the new function in the schema cache")
        assert answer.json() == {"uid": session["user"]["id"], "role": "authenticated", "email": email,
                                 "aud": "authenticated"}
    finally:
        db.execute(sql.SQL("drop function public.{}()").format(sql.Identifier(name)))
