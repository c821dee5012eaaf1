"""``/rest/v1`` across a PostgreSQL restart: the requests after it succeed (no pooled connection the restart
killed is handed out) and the schema cache still follows DDL. Runs on a stack of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from supabase import acreate_client

from stack_support.cli import running_stack
from supabase_local import postgres
from supabase_local.state import StackState, load_state

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CONCURRENT = 8  # enough parallel requests to fill several pooled connections before the restart


@pytest.fixture(scope="module")
def own_stack() -> Iterator[StackState]:
    with running_stack() as directory:
        state = load_state(directory)
        assert state is not None
        yield state


def get(state: StackState, path: str) -> httpx.Response:
    """A GET without the client's retries on 503, so a failure after the restart is seen, not hidden."""
    key = state.service_role_key
    return httpx.get(f"{state.supabase_url}/rest/v1/{path}", headers={"apikey": key, "Authorization": f"Bearer {key}"})


async def test_requests_after_a_database_restart_succeed(own_stack: StackState):
    state = own_stack
    with psycopg.connect(state.db_url, autocommit=True) as conn:
        conn.execute("create table rest_before (id int primary key, note text)")
    client = await acreate_client(state.supabase_url, state.service_role_key)
    await asyncio.gather(*(client.table("rest_before").insert({"id": i, "note": "before"}).execute()
                           for i in range(CONCURRENT)))

    postgres.stop(state)
    postgres.start(state)

    responses = [get(state, "rest_before?select=id&order=id") for _ in range(CONCURRENT + 2)]
    assert [(r.status_code, r.text) for r in responses if r.status_code != 200] == []
    assert responses[0].json() == [{"id": i} for i in range(CONCURRENT)]
    written = await asyncio.gather(*(client.table("rest_before").insert({"id": CONCURRENT + i, "note": "after"})
                                     .execute() for i in range(CONCURRENT)))
    assert all(len(result.data) == 1 for result in written)

    with psycopg.connect(state.db_url, autocommit=True) as conn:
        conn.execute("create table rest_after (id int primary key)")
    inserted = await client.table("rest_after").insert({"id": 1}).execute()
    assert inserted.data == [{"id": 1}]
    assert get(state, "rest_after?select=id").json() == [{"id": 1}]
