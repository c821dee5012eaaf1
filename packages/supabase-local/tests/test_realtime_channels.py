"""Broadcast, presence and protocol robustness of the local Realtime, through real clients."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator

import psycopg
import pytest
import websockets
from psycopg import sql
from supabase import AsyncClient, acreate_client

from stack_support.realtime import DEADLINE_SECONDS, Inbox, published_table, subscribed
from supabase_local.keys import sign_role_key
from supabase_local.state import StackState


@pytest.fixture
async def pair(stack: StackState) -> AsyncIterator[tuple[AsyncClient, AsyncClient]]:
    first = await acreate_client(stack.supabase_url, stack.anon_key)
    second = await acreate_client(stack.supabase_url, stack.anon_key)
    yield first, second
    for client in (first, second):
        await client.realtime.remove_all_channels()


def ws_url(stack: StackState, vsn: str = "1.0.0", apikey: str | None = None) -> str:
    host = stack.supabase_url.removeprefix("http://")
    return f"ws://{host}/realtime/v1/websocket?apikey={apikey or stack.anon_key}&vsn={vsn}"


async def test_broadcast_between_clients(pair: tuple[AsyncClient, AsyncClient]) -> None:
    first, second = pair
    to_first, to_second = Inbox(), Inbox()
    sender = first.channel("room-b", {"config": {"broadcast": {"self": True, "ack": True}}})
    await subscribed(sender.on_broadcast("progress", to_first))
    await subscribed(second.channel("room-b").on_broadcast("progress", to_second))
    await sender.send_broadcast("progress", {"pct": 42})
    assert (await to_second.next())["payload"] == {"pct": 42}
    assert (await to_first.next())["payload"] == {"pct": 42}  # self: true


async def test_broadcast_without_self_skips_sender(pair: tuple[AsyncClient, AsyncClient]) -> None:
    first, second = pair
    to_first, to_second = Inbox(), Inbox()
    sender = first.channel("room-c").on_broadcast("*", to_first)
    await subscribed(sender)
    await subscribed(second.channel("room-c").on_broadcast("*", to_second))
    await sender.send_broadcast("one", {"n": 1})
    await second.channel("room-c").send_broadcast("two", {"n": 2})
    assert (await to_second.next())["event"] == "one"
    assert (await to_first.next())["event"] == "two"
    assert to_first.drained() == [] and to_second.drained() == []


async def test_presence_track_and_untrack(pair: tuple[AsyncClient, AsyncClient]) -> None:
    first, second = pair
    synced = asyncio.Event()
    watcher = second.channel("lobby", {"config": {"presence": {"key": "bob", "enabled": True}}})
    watcher.on_presence_sync(synced.set)
    await subscribed(watcher)
    tracker = first.channel("lobby", {"config": {"presence": {"key": "alice", "enabled": True}}})
    await subscribed(tracker)

    async def wait_for(predicate: object) -> None:
        async def loop() -> None:
            while not predicate(watcher.presence_state()):
                synced.clear()
                await synced.wait()
        await asyncio.wait_for(loop(), DEADLINE_SECONDS)

    await tracker.track({"status": "online"})
    await wait_for(lambda state: "alice" in state)
    assert watcher.presence_state()["alice"][0]["status"] == "online"
    await tracker.track({"status": "away"})
    await wait_for(lambda state: [p["status"] for p in state.get("alice", [])] == ["away"])
    await tracker.untrack()
    await wait_for(lambda state: "alice" not in state)

    await tracker.track({"status": "back"})
    await wait_for(lambda state: "alice" in state)
    await first.realtime.remove_channel(tracker)  # leaving the channel untracks too
    await wait_for(lambda state: "alice" not in state)


async def test_presence_state_on_join(pair: tuple[AsyncClient, AsyncClient]) -> None:
    first, second = pair
    tracker = first.channel("hall", {"config": {"presence": {"key": "carol", "enabled": True}}})
    await subscribed(tracker)
    await tracker.track({"mood": "fine"})
    synced = asyncio.Event()
    late = second.channel("hall", {"config": {"presence": {"key": "dave", "enabled": True}}})
    late.on_presence_sync(synced.set)
    await subscribed(late)
    await asyncio.wait_for(synced.wait(), DEADLINE_SECONDS)
    assert late.presence_state()["carol"][0]["mood"] == "fine"


async def test_junk_frames_get_errors_and_the_server_lives(stack: StackState) -> None:
    async with websockets.connect(ws_url(stack)) as ws:
        for junk in ("not json", "[1,2,3]", '{"topic": 5}', '{"topic":"t","event":"x","payload":[]}'):
            await ws.send(junk)
            reply = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE_SECONDS))
            assert reply["event"] == "phx_reply" and reply["payload"]["status"] == "error"
            assert reply["payload"]["response"]["reason"].startswith("malformed message")
        await ws.send(b"\x00\x01binary")
        reply = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE_SECONDS))
        assert reply["payload"]["status"] == "error"
        await ws.send(json.dumps({"topic": "realtime:x", "event": "broadcast", "payload": {}, "ref": "9"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE_SECONDS))
        assert reply["ref"] == "9" and reply["payload"]["response"]["reason"] == "unmatched topic"
        await ws.send(json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "10"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE_SECONDS))
        assert reply == {"event": "phx_reply", "payload": {"status": "ok", "response": {}}, "ref": "10",
                         "topic": "phoenix"}


@pytest.mark.parametrize("payload", [
    {"config": "nope"},
    {"config": {"postgres_changes": "nope"}},
    {"config": {"postgres_changes": [{"event": "SOMETIMES", "schema": "public", "table": "x"}]}},
    {"config": {"postgres_changes": [5]}},
    {"config": {}, "access_token": "forged.jwt.token"},
    {"config": {"private": True}},
])
async def test_bad_join_payloads_are_refused(stack: StackState, payload: dict[str, object]) -> None:
    async with websockets.connect(ws_url(stack)) as ws:
        await ws.send(json.dumps({"topic": "realtime:bad", "event": "phx_join", "payload": payload, "ref": "1",
                                  "join_ref": "1"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE_SECONDS))
        assert reply["ref"] == "1" and reply["payload"]["status"] == "error"
        assert reply["payload"]["response"]["reason"]


async def test_invalid_apikey_is_refused(stack: StackState) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(ws_url(stack, apikey="forged")):
            pass
    assert refused.value.response.status_code == 403


async def test_expired_access_token_closes_the_channel(stack: StackState) -> None:
    expired = sign_role_key(stack.jwt_secret, "anon", lifetime_seconds=-10)
    async with websockets.connect(ws_url(stack)) as ws:
        join = {"topic": "realtime:tok", "event": "phx_join", "payload": {"config": {}}, "ref": "1", "join_ref": "1"}
        await ws.send(json.dumps(join))
        assert json.loads(await asyncio.wait_for(ws.recv(), DEADLINE_SECONDS))["payload"]["status"] == "ok"
        await ws.send(json.dumps({"topic": "realtime:tok", "event": "access_token", "ref": "2", "join_ref": "1",
                                  "payload": {"access_token": expired}}))
        system = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE_SECONDS))
        assert system["event"] == "system" and system["payload"]["status"] == "error"
        assert "expired" in system["payload"]["message"]


async def test_vsn_2_arrays_and_binary_broadcasts(stack: StackState, db: psycopg.Connection) -> None:
    with published_table(db, "id int primary key") as name:
        async with websockets.connect(ws_url(stack, "2.0.0")) as first, \
                websockets.connect(ws_url(stack, "2.0.0")) as second:
            binding = {"event": "INSERT", "schema": "public", "table": name}
            join = ["1", "1", "realtime:js", "phx_join", {"config": {"postgres_changes": [binding]}}]
            await first.send(json.dumps(join))
            reply = json.loads(await asyncio.wait_for(first.recv(), DEADLINE_SECONDS))
            assert reply[:4] == ["1", "1", "realtime:js", "phx_reply"] and reply[4]["status"] == "ok"
            binding_id = reply[4]["response"]["postgres_changes"][0]["id"]
            system = json.loads(await asyncio.wait_for(first.recv(), DEADLINE_SECONDS))
            assert system[3] == "system" and system[1] is None
            await second.send(json.dumps(["5", "5", "realtime:js", "phx_join", {"config": {}}]))
            await asyncio.wait_for(second.recv(), DEADLINE_SECONDS)

            db.execute(sql.SQL("insert into {} values (1)").format(sql.Identifier(name)))
            change = json.loads(await asyncio.wait_for(first.recv(), DEADLINE_SECONDS))
            assert change[2:4] == ["realtime:js", "postgres_changes"] and change[1] is None
            assert change[4]["ids"] == [binding_id] and change[4]["data"]["record"] == {"id": 1}

            fields = [b"5", b"6", b"realtime:js", b"hello", b""]
            await second.send(struct.pack("!7B", 3, *map(len, fields), 1) + b"".join(fields) + b'{"n":1}')
            frame = await asyncio.wait_for(first.recv(), DEADLINE_SECONDS)
            assert isinstance(frame, bytes) and frame[0] == 4 and frame.endswith(b'{"n":1}')


async def test_frames_are_not_compressed_as_on_hosted_realtime(stack: StackState) -> None:
    """The Python client offers permessage-deflate; hosted Realtime (Phoenix, ``compress: false``) declines it."""
    async with websockets.connect(ws_url(stack)) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert ws.request.headers.get("Sec-WebSocket-Extensions", "").startswith("permessage-deflate")
