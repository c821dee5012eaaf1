"""A client that stops reading while changes stream in: the gateway closes that one connection (1013, try again
later) once its bounded queue is full, stays healthy, and a normal client on the same topic gets every change in
order. And a transaction with far more rows than that queue holds reaches a normal client whole and in order: the
feed waits for a connection that drains instead of dropping it. Runs on a stack of its own whose per-connection
queue holds only a few frames."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import websockets
from psycopg import sql
from supabase import acreate_client

from stack_support.cli import running_stack
from stack_support.realtime import DEADLINE_SECONDS, Inbox, create_table, record
from supabase_local.realtime.endpoint import TRY_AGAIN_LATER
from supabase_local.realtime.service import OUTBOX_LIMIT_ENV, outbox_limit
from supabase_local.state import StackState, load_state

QUEUE_LIMIT = 40
ROW_BYTES = 64 * 1024  # large frames, so socket buffers (at most a few MB) absorb few of them
CHUNK = 10
# Far more than the slow client's queue plus what the socket buffers hold (about 6 such frames when measured).
CHANGES = 200
BIG_TRANSACTION = 500  # rows in one transaction: more than ten times the queue bound


@pytest.fixture(scope="module")
def small_queue_stack() -> Iterator[StackState]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(OUTBOX_LIMIT_ENV, str(QUEUE_LIMIT))
        with running_stack() as directory:
            state = load_state(directory)
            assert state is not None
            yield state


@pytest.fixture
def table(small_queue_stack: StackState) -> Iterator[str]:
    with psycopg.connect(small_queue_stack.db_url, autocommit=True) as db:
        name = create_table(db, "id int primary key, body text not null")
        yield name
        db.execute(sql.SQL("drop table {}").format(sql.Identifier(name)))


@pytest.fixture
async def slow(small_queue_stack: StackState) -> AsyncIterator[websockets.ClientConnection]:
    """A raw client with a tiny receive buffer that reads nothing once it has joined (no compression, so
    the bytes in flight are the frames' real size)."""
    host, port = small_queue_stack.supabase_url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    url = f"ws://{host}:{port}/realtime/v1/websocket?apikey={small_queue_stack.anon_key}&vsn=1.0.0"
    async with websockets.connect(url, sock=sock, compression=None, max_queue=1) as ws:
        yield ws


async def join_raw(ws: websockets.ClientConnection, topic: str, table: str) -> None:
    binding = {"event": "INSERT", "schema": "public", "table": table}
    await ws.send(json.dumps({"topic": topic, "event": "phx_join", "ref": "1", "join_ref": "1",
                              "payload": {"config": {"postgres_changes": [binding]}}}))
    frames = [json.loads(await asyncio.wait_for(ws.recv(), DEADLINE_SECONDS)) for _ in range(2)]
    assert [f["event"] for f in frames] == ["phx_reply", "system"] and frames[0]["payload"]["status"] == "ok"


async def drain(ws: websockets.ClientConnection) -> list[dict[str, Any]]:
    """Everything the server had sent before it closed the connection."""
    frames = []
    async def read_all() -> None:
        async for message in ws:
            frames.append(json.loads(message))
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(read_all(), DEADLINE_SECONDS)
        await ws.recv()
    return frames


async def test_slow_client_is_dropped_and_the_others_get_everything(
        small_queue_stack: StackState, table: str, slow: websockets.ClientConnection) -> None:
    normal = await acreate_client(small_queue_stack.supabase_url, small_queue_stack.anon_key)
    inbox = Inbox()
    try:
        await normal.channel("burst").on_postgres_changes("INSERT", inbox, table=table).subscribe()
        await join_raw(slow, "realtime:burst", table)
        query = sql.SQL("insert into {} (id, body) values (%s, %s)").format(sql.Identifier(table))
        received: list[int] = []
        with psycopg.connect(small_queue_stack.db_url, autocommit=True) as db, db.cursor() as cur:
            for start in range(0, CHANGES, CHUNK):
                # one transaction per row; the normal client keeps up chunk by chunk, the slow one reads nothing
                cur.executemany(query, [(key, os.urandom(ROW_BYTES // 2).hex()) for key in range(start, start + CHUNK)])
                received.extend(record(p)["id"] for p in await inbox.take(CHUNK))
        assert received == list(range(CHANGES))

        frames = await drain(slow)
        assert slow.close_code == TRY_AGAIN_LATER
        cut_off = [f["payload"]["data"]["record"]["id"] for f in frames if f["event"] == "postgres_changes"]
        assert cut_off == list(range(len(cut_off))) and len(cut_off) < CHANGES  # in order, then closed

        async with httpx.AsyncClient() as http:
            health = await http.get(f"{small_queue_stack.supabase_url}/health")
        assert health.status_code == 200 and health.json()["services"]["realtime"] == "ok"
        with psycopg.connect(small_queue_stack.db_url, autocommit=True) as db:
            db.execute(query, (CHANGES, "after"))
        assert record(await inbox.next())["id"] == CHANGES
    finally:
        await normal.realtime.remove_all_channels()


async def test_one_transaction_larger_than_the_queue_reaches_a_normal_client(
        small_queue_stack: StackState, table: str) -> None:
    client = await acreate_client(small_queue_stack.supabase_url, small_queue_stack.anon_key)
    inbox = Inbox()
    try:
        channel = client.channel("big")
        await channel.on_postgres_changes("INSERT", inbox, table=table).subscribe()
        socket_before = client.realtime._ws_connection  # a reconnect after a 1013 close would replace it
        query = sql.SQL("insert into {} (id, body) select n, 'row ' || n from generate_series(0, %s) n").format(
            sql.Identifier(table))
        with psycopg.connect(small_queue_stack.db_url) as db:  # one transaction, committed on exit
            db.execute(query, (BIG_TRANSACTION - 1,))
        received = [record(payload)["id"] for payload in await inbox.take(BIG_TRANSACTION)]
        assert received == list(range(BIG_TRANSACTION))
        assert client.realtime._ws_connection is socket_before and socket_before.close_code is None
        assert channel.is_joined
    finally:
        await client.realtime.remove_all_channels()


@pytest.mark.parametrize("raw", ["0", "-3", "many", ""])
def test_bad_queue_bound_setting_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=OUTBOX_LIMIT_ENV):
        outbox_limit(raw)
