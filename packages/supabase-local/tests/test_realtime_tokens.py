"""A channel's JWT running out during the session: the channel is told and closed, as on Supabase Realtime,
and a fresh ``access_token`` sent before that keeps it alive. Tokens here live two seconds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest
import websockets
from psycopg import sql
from supabase import AsyncClient, acreate_client

from stack_support.realtime import DEADLINE_SECONDS, Inbox, published_table, record
from supabase_local.keys import sign_role_key
from supabase_local.state import StackState

SHORT_LIFETIME = 2
MakeClient = Callable[[], Awaitable[AsyncClient]]


@pytest.fixture
def table(db: psycopg.Connection) -> Iterator[str]:
    with published_table(db, "id int primary key") as name:
        yield name


@pytest.fixture
async def clients(stack: StackState) -> AsyncIterator[MakeClient]:
    """A maker of anon clients, each with its own websocket; their channels are removed afterwards."""
    made: list[AsyncClient] = []

    async def make() -> AsyncClient:
        client = await acreate_client(stack.supabase_url, stack.anon_key)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.realtime.remove_all_channels()


def insert(db: psycopg.Connection, table: str, key: int) -> None:
    db.execute(sql.SQL("insert into {} values (%s)").format(sql.Identifier(table)), (key,))


async def joined(client: AsyncClient, topic: str, table: str, inbox: Inbox) -> Inbox:
    """Subscribe ``topic`` to inserts of ``table``; returns the inbox of its subscribe states."""
    states = Inbox()
    channel = client.channel(topic).on_postgres_changes("INSERT", inbox, table=table)
    await channel.subscribe(lambda state, error: states((str(state.value), error)))
    assert (await states.next())[0] == "SUBSCRIBED"
    return states


async def test_channel_is_closed_when_its_token_expires(clients: MakeClient, stack: StackState,
                                                        db: psycopg.Connection, table: str) -> None:
    client = await clients()
    await client.realtime.set_auth(sign_role_key(stack.jwt_secret, "anon", lifetime_seconds=SHORT_LIFETIME))
    inbox = Inbox()
    states = await joined(client, "expiring", table, inbox)
    insert(db, table, 1)
    assert record(await inbox.next()) == {"id": 1}  # alive while the token is valid

    state, error = await states.next()
    assert state == "CHANNEL_ERROR" and "Token has expired" in str(error)
    assert (await states.next())[0] == "CLOSED"  # phx_close: the client does not rejoin with the dead token
    assert client.realtime.channels == {}


async def test_fresh_access_token_keeps_the_channel(clients: MakeClient, stack: StackState, db: psycopg.Connection,
                                                    table: str) -> None:
    refreshed, witness = await clients(), await clients()
    await refreshed.realtime.set_auth(sign_role_key(stack.jwt_secret, "anon", lifetime_seconds=SHORT_LIFETIME))
    # Signed second, so it expires no earlier: once the witness is closed, the first token has run out too.
    await witness.realtime.set_auth(sign_role_key(stack.jwt_secret, "anon", lifetime_seconds=SHORT_LIFETIME))
    inbox = Inbox()
    states = await joined(refreshed, "refreshed", table, inbox)
    witness_states = await joined(witness, "witness", table, Inbox())

    await refreshed.realtime.set_auth(sign_role_key(stack.jwt_secret, "anon", lifetime_seconds=3600))
    assert [state for state, _ in await witness_states.take(2)] == ["CHANNEL_ERROR", "CLOSED"]

    insert(db, table, 2)
    assert record(await inbox.next()) == {"id": 2}
    assert states.drained() == []


def ws_url(stack: StackState) -> str:
    return f"ws://{stack.supabase_url.removeprefix('http://')}/realtime/v1/websocket?apikey={stack.anon_key}&vsn=1.0.0"


async def test_expired_channel_gets_no_more_changes(stack: StackState, db: psycopg.Connection, table: str) -> None:
    """On one connection, a channel whose token expired stops receiving while a sibling channel goes on."""
    binding = {"event": "INSERT", "schema": "public", "table": table}
    short = sign_role_key(stack.jwt_secret, "anon", lifetime_seconds=SHORT_LIFETIME)
    async with websockets.connect(ws_url(stack)) as ws:
        async def frame() -> dict[str, Any]:
            return json.loads(await asyncio.wait_for(ws.recv(), DEADLINE_SECONDS))

        for ref, topic, token in (("1", "realtime:short", short), ("2", "realtime:long", stack.anon_key)):
            await ws.send(json.dumps({"topic": topic, "event": "phx_join", "ref": ref, "join_ref": ref, "payload": {
                "config": {"postgres_changes": [binding]}, "access_token": token}}))
        seen = [await frame() for _ in range(4)]  # two join replies, two "Subscribed to PostgreSQL"
        assert sorted(f["event"] for f in seen) == ["phx_reply", "phx_reply", "system", "system"]

        system, close = await frame(), await frame()
        assert system["topic"] == "realtime:short" and system["event"] == "system" and system["ref"] is None
        assert system["payload"]["status"] == "error" and system["payload"]["extension"] == "system"
        assert system["payload"]["channel"] == "short"
        assert system["payload"]["message"].startswith("Token has expired")
        assert close["topic"] == "realtime:short" and close["event"] == "phx_close"

        insert(db, table, 3)
        change = await frame()  # one connection, one ordered stream: a frame for the dead channel would come first
        assert change["topic"] == "realtime:long" and change["event"] == "postgres_changes"
        assert change["payload"]["data"]["record"] == {"id": 3}
