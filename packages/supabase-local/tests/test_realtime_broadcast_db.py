"""Broadcast from the database with the official async client, unchanged: ``realtime.send`` and
``realtime.broadcast_changes`` reach the subscribers of their topic; private channels are opened only by the RLS
policies on ``realtime.messages`` (select to receive, insert to send), public ones keep working."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from supabase import AsyncClient, acreate_client

from stack_support.auth import user_token
from stack_support.realtime import Inbox, published_table
from supabase_local.pg_listener import Listener
from supabase_local.realtime.broadcasts import MessageFeed
from supabase_local.realtime.registry import Registry
from supabase_local.state import StackState

MakeUser = Callable[[], Awaitable[AsyncClient]]


@pytest.fixture
def prefix(db: psycopg.Connection) -> Iterator[str]:
    """A topic prefix of this test's own, with policies that let a signed-in user receive and send on
    ``<prefix>:<their user id>`` only (as an app's migration would write them, as ``postgres``)."""
    name = f"t{uuid.uuid4().hex[:10]}"
    own_topic = sql.SQL("realtime.topic() = {} || ':' || (select auth.uid())::text").format(sql.Literal(name))
    db.execute(sql.SQL("create policy {} on realtime.messages for select to authenticated using ({})").format(
        sql.Identifier(f"{name} read"), own_topic))
    db.execute(sql.SQL("create policy {} on realtime.messages for insert to authenticated with check ({})").format(
        sql.Identifier(f"{name} write"), own_topic))
    yield name
    for what in ("read", "write"):
        db.execute(sql.SQL("drop policy {} on realtime.messages").format(sql.Identifier(f"{name} {what}")))


@pytest.fixture
async def users(stack: StackState) -> AsyncIterator[MakeUser]:
    """A maker of async clients, each signed in as a new anonymous user."""
    made: list[AsyncClient] = []

    async def make() -> AsyncClient:
        client = await acreate_client(stack.supabase_url, stack.anon_key)
        await client.auth.sign_in_anonymously()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.realtime.remove_all_channels()


async def user_id(client: AsyncClient) -> str:
    session = await client.auth.get_session()
    assert session is not None
    return session.user.id


async def join(client: AsyncClient, topic: str, private: bool, inbox: Inbox, event: str = "*") -> tuple[str, Any]:
    """Subscribe to broadcasts of ``topic``; the first subscribe state and its error."""
    states = Inbox()
    channel = client.channel(topic, {"config": {"private": private}}).on_broadcast(event, inbox)
    await channel.subscribe(lambda state, error: states((str(state.value), error)))
    return await states.next()


def send(db: psycopg.Connection, topic: str, payload: dict[str, Any], private: bool = True,
         event: str = "ping") -> None:
    db.execute("select realtime.send(%s::jsonb, %s, %s, %s)", (psycopg.types.json.Jsonb(payload), event, topic,
                                                              private))


async def test_a_user_receives_sends_on_their_own_private_topic(users: MakeUser, db: psycopg.Connection,
                                                                prefix: str) -> None:
    anna = await users()
    topic = f"{prefix}:{await user_id(anna)}"
    inbox = Inbox()
    assert (await join(anna, topic, True, inbox))[0] == "SUBSCRIBED"
    send(db, topic, {"n": 1})
    message = await inbox.next()
    assert message["event"] == "ping" and message["payload"]["n"] == 1 and message["payload"]["id"]


async def test_payloads_arrive_as_sent_whatever_their_size(users: MakeUser, db: psycopg.Connection,
                                                          prefix: str) -> None:
    """The gateway puts a message's payload into the frame as Postgres wrote it; one too large for a notification
    is read back from ``realtime.messages``. Both arrive whole, newlines, quotes and non-ASCII text included."""
    anna = await users()
    topic = f"{prefix}:{await user_id(anna)}"
    inbox = Inbox()
    assert (await join(anna, topic, True, inbox))[0] == "SUBSCRIBED"
    small = {"text": 'line one\nline "two" ünïcode', "nested": {"list": [1, 2.5, None, True]}, "empty": {}}
    large = {"text": "x" * 20_000, "nested": small}
    send(db, topic, small)
    send(db, topic, large)
    first, second = await inbox.take(2)
    for message, sent in ((first, small), (second, large)):
        assert {key: value for key, value in message["payload"].items() if key != "id"} == sent


async def test_another_user_cannot_join_that_topic(users: MakeUser, prefix: str) -> None:
    anna, ben = await users(), await users()
    topic = f"{prefix}:{await user_id(anna)}"
    state, error = await join(ben, topic, True, Inbox())
    assert state == "CHANNEL_ERROR"
    assert "Unauthorized: You do not have permissions to read from this Channel topic" in str(error)


async def test_anon_cannot_join_a_private_topic(stack: StackState, prefix: str) -> None:
    client = await acreate_client(stack.supabase_url, stack.anon_key)
    try:
        state, _ = await join(client, f"{prefix}:{uuid.uuid4()}", True, Inbox())
        assert state == "CHANNEL_ERROR"
    finally:
        await client.realtime.remove_all_channels()


async def test_public_and_private_channels_of_one_name_are_apart(users: MakeUser, stack: StackState,
                                                                 db: psycopg.Connection, prefix: str) -> None:
    anna = await users()
    topic = f"{prefix}:{await user_id(anna)}"
    private_inbox, public_inbox = Inbox(), Inbox()
    assert (await join(anna, topic, True, private_inbox))[0] == "SUBSCRIBED"
    listener = await acreate_client(stack.supabase_url, stack.anon_key)
    try:
        assert (await join(listener, topic, False, public_inbox))[0] == "SUBSCRIBED"
        send(db, topic, {"to": "public"}, private=False)
        send(db, topic, {"to": "private"}, private=True)
        assert (await public_inbox.next())["payload"]["to"] == "public"
        assert (await private_inbox.next())["payload"]["to"] == "private"
        send(db, topic, {"to": "public", "last": True}, private=False)
        await public_inbox.until(lambda message: message["payload"].get("last"))
        assert private_inbox.drained() == []
    finally:
        await listener.realtime.remove_all_channels()


async def test_broadcast_changes_from_a_trigger(users: MakeUser, db: psycopg.Connection, prefix: str) -> None:
    """A row trigger calling ``realtime.broadcast_changes``, as Supabase's guide writes it; the payload is shaped as
    hosted shapes it."""
    anna = await users()
    owner = await user_id(anna)
    with published_table(db, "id int primary key, owner uuid, label text", publish=False) as table:
        function = sql.Identifier(f"{table}_broadcast")
        db.execute(sql.SQL("""
            create function {function}() returns trigger language plpgsql security definer set search_path = ''
            as $$ begin
              perform realtime.broadcast_changes({prefix} || ':' || coalesce(new.owner, old.owner)::text, tg_op, tg_op,
                                                 tg_table_name, tg_table_schema, new, old);
              return null;
            end $$""").format(function=function, prefix=sql.Literal(prefix)))
        db.execute(sql.SQL("create trigger broadcast after insert or update or delete on {} for each row "
                           "execute function {}()").format(sql.Identifier(table), function))
        inbox = Inbox()
        assert (await join(anna, f"{prefix}:{owner}", True, inbox))[0] == "SUBSCRIBED"
        db.execute(sql.SQL("insert into {} values (1, %s, 'a')").format(sql.Identifier(table)), (owner,))
        db.execute(sql.SQL("update {} set label = 'b'").format(sql.Identifier(table)))
        inserted, updated = await inbox.take(2)
        assert inserted["event"] == "INSERT" and updated["event"] == "UPDATE"
        body = updated["payload"]
        assert (body["operation"], body["table"], body["schema"]) == ("UPDATE", table, "public")
        assert body["record"]["label"] == "b" and body["old_record"]["label"] == "a"
        db.execute(sql.SQL("drop function {} cascade").format(function))


async def test_a_send_rolled_back_is_never_delivered(users: MakeUser, stack: StackState, prefix: str) -> None:
    anna = await users()
    topic = f"{prefix}:{await user_id(anna)}"
    inbox = Inbox()
    assert (await join(anna, topic, True, inbox))[0] == "SUBSCRIBED"
    with psycopg.connect(stack.db_url) as conn:
        send(conn, topic, {"kept": False})
        conn.rollback()
        send(conn, topic, {"kept": True})
        conn.commit()
    assert (await inbox.next())["payload"]["kept"] is True  # the rolled-back one never came first


async def broadcast_to_self(client: AsyncClient, topic: str, inbox: Inbox) -> None:
    """Join ``topic`` privately with self-broadcasts acknowledged, and send one ``hello`` on it."""
    states = Inbox()
    channel = client.channel(topic, {"config": {"private": True, "broadcast": {"self": True, "ack": True}}})
    channel.on_broadcast("*", inbox)
    await channel.subscribe(lambda state, error: states((str(state.value), error)))
    assert (await states.next())[0] == "SUBSCRIBED"
    await channel.send_broadcast("hello", {"from": "client"})


async def test_client_broadcasts_on_a_private_channel_need_the_insert_policy(
        users: MakeUser, db: psycopg.Connection, prefix: str) -> None:
    anna = await users()
    anna_id = await user_id(anna)
    allowed = Inbox()
    await broadcast_to_self(anna, f"{prefix}:{anna_id}", allowed)
    assert (await allowed.next())["payload"] == {"from": "client"}

    read_only = f"{prefix}-ro:{anna_id}"  # readable (the policy below) but not writable: no insert policy
    policy = sql.Identifier(f"{prefix} read-only")
    db.execute(sql.SQL("create policy {} on realtime.messages for select to authenticated "
                       "using (realtime.topic() = {} || '-ro:' || (select auth.uid())::text)").format(
                           policy, sql.Literal(prefix)))
    try:
        refused = Inbox()
        await broadcast_to_self(anna, read_only, refused)
        send(db, read_only, {"from": "database"})
        assert (await refused.next())["payload"]["from"] == "database"  # the client's hello never came first
    finally:
        db.execute(sql.SQL("drop policy {} on realtime.messages").format(policy))


async def private_join(client: AsyncClient, topic: str, token: str, inbox: Inbox) -> Inbox:
    """Join ``topic`` privately with ``token``; returns the inbox of the channel's states after SUBSCRIBED."""
    await client.realtime.set_auth(token)
    states = Inbox()
    channel = client.channel(topic, {"config": {"private": True}}).on_broadcast("*", inbox)
    await channel.subscribe(lambda state, error: states((str(state.value), error)))
    assert (await states.next())[0] == "SUBSCRIBED"
    return states


async def test_a_refreshed_token_is_accepted_and_an_expired_one_ends_the_channel(
        users: MakeUser, stack: StackState, db: psycopg.Connection, prefix: str) -> None:
    anna, ben = await users(), await users()
    anna_id, ben_id = await user_id(anna), await user_id(ben)
    inbox = Inbox()
    anna_states = await private_join(anna, f"{prefix}:{anna_id}", user_token(
        stack, sub=anna_id, exp=int(time.time()) + 2, session_id=None), inbox)
    # Signed second, so it expires no earlier: once ben's channel is closed, anna's first token has run out too.
    ben_states = await private_join(ben, f"{prefix}:{ben_id}", user_token(
        stack, sub=ben_id, exp=int(time.time()) + 2, session_id=None), Inbox())

    refreshed = await anna.auth.refresh_session()
    assert refreshed.session is not None
    await anna.realtime.set_auth(refreshed.session.access_token)
    state, error = await ben_states.next()
    assert state == "CHANNEL_ERROR" and "Token has expired" in str(error)
    assert (await ben_states.next())[0] == "CLOSED"

    send(db, f"{prefix}:{anna_id}", {"after": "refresh"})
    assert (await inbox.next())["payload"]["after"] == "refresh"
    assert anna_states.drained() == []


async def _nothing() -> None:
    """No topics to list again: the feed under test does not listen."""


async def test_messages_older_than_72_hours_are_swept(stack: StackState, admin_db: psycopg.Connection) -> None:
    topic = f"sweep-{uuid.uuid4().hex[:8]}"
    for age in ("73 hours", "1 hour"):
        admin_db.execute("insert into realtime.messages (topic, extension, payload, event, inserted_at) "
                         "values (%s, 'broadcast', '{}', 'old', now() - %s::interval)", (topic, age))
    async with AsyncConnectionPool(stack.admin_url, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        assert await MessageFeed(pool, Listener(stack.admin_url), Registry(), _nothing).sweep() >= 1
    left = admin_db.execute("select count(*) from realtime.messages where topic = %s", (topic,)).fetchone()
    assert left == (1,)


async def test_a_token_the_policies_no_longer_let_in_ends_the_private_channel(
        users: MakeUser, stack: StackState, prefix: str) -> None:
    anna = await users()
    anna_id = await user_id(anna)
    session = await anna.auth.get_session()
    assert session is not None
    states = await private_join(anna, f"{prefix}:{anna_id}", session.access_token, Inbox())
    await anna.realtime.set_auth(user_token(stack, sub=str(uuid.uuid4()), session_id=None))  # someone else
    state, error = await states.next()
    assert state == "CHANNEL_ERROR"
    assert f"You do not have permissions to read from this Channel topic: {prefix}:{anna_id}" in str(error)
    assert (await states.next())[0] == "CLOSED"
