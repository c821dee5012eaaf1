"""Fuzzing the Realtime websocket of the session's gateway with frames in both serializers: 1.0.0 JSON objects,
2.0.0 JSON arrays and binary broadcasts, well formed or not. Properties: after any frames the server still
answers a heartbeat or closes the socket with a clean code, it logs no failed connection, the gateway stays
healthy, and afterwards an ordinary client still joins and receives changes.

``FUZZ_EXAMPLES`` sets the examples (default 500; ``make fuzz`` runs more).
"""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql
from supabase import acreate_client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from stack_support.fuzz import FUZZ, json_values
from stack_support.realtime import Inbox, published_table, record, subscribed
from supabase_local.state import StackState

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]

# 1000 normal, 1001 going away, 1003 unsupported data, 1007 invalid payload, 1008 policy, 1009 too big,
# 1013 try again later: all say "no" on purpose. 1006 (no close frame) or 1011 (server error) would be a crash.
CLEAN_CLOSE = {1000, 1001, 1003, 1007, 1008, 1009, 1013}
REPLY_DEADLINE = 5.0
_refs = itertools.count()

anything = st.one_of(json_values, st.sampled_from(["*", "INSERT", "public", "job_results", "id=eq.1", "", None]))
binding = st.fixed_dictionaries({}, optional={"event": anything, "schema": anything, "table": anything,
                                              "filter": anything})
join_payload = st.fixed_dictionaries({}, optional={
    "config": st.fixed_dictionaries({}, optional={
        "postgres_changes": st.one_of(st.lists(binding, max_size=3), anything),
        "broadcast": st.one_of(st.fixed_dictionaries({}, optional={"self": anything, "ack": anything}), anything),
        "presence": st.one_of(st.fixed_dictionaries({}, optional={"key": anything}), anything),
        "private": anything}),
    "access_token": anything,
    "type": anything, "event": anything, "payload": anything})
topics = st.one_of(st.sampled_from(["phoenix", "realtime:public", "realtime:room", "realtime:*", "", "realtime:"]),
                   st.text(max_size=30))
events = st.one_of(st.sampled_from(["phx_join", "heartbeat", "access_token", "broadcast", "presence", "phx_leave",
                                    "phx_reply", ""]), st.text(max_size=20))
refs = st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 10**12), st.booleans())
payloads = st.one_of(join_payload, json_values)


@st.composite
def messages(draw: st.DrawFn, vsn: str) -> str | bytes:
    """One websocket message: a frame of either serializer, fields dropped or mistyped, or raw junk."""
    join_ref, ref, topic, event, payload = (draw(refs), draw(refs), draw(topics), draw(events), draw(payloads))
    shape = draw(st.sampled_from(["object", "array", "text", "binary", "kind3"]))
    if shape == "object":
        frame = {"join_ref": join_ref, "ref": ref, "topic": topic, "event": event, "payload": payload}
        dropped = draw(st.sets(st.sampled_from(sorted(frame)), max_size=2))
        return json.dumps({k: v for k, v in frame.items() if k not in dropped})
    if shape == "array":
        items = [join_ref, ref, topic, event, payload]
        return json.dumps(items[: draw(st.integers(0, 6))] if draw(st.booleans()) else items)
    if shape == "text":
        return draw(st.text(max_size=200))
    if shape == "binary":
        return draw(st.binary(max_size=200))
    fields = [str(join_ref or "").encode(), str(ref or "").encode(), str(topic).encode(), str(event).encode(), b""]
    sizes = [min(len(f), 255) for f in fields] if draw(st.booleans()) else draw(st.lists(st.integers(0, 255),
                                                                                       min_size=5, max_size=5))
    body = json.dumps(payload).encode() if draw(st.booleans()) else draw(st.binary(max_size=40))
    return struct.pack("!BBBBBBB", 3, *sizes, draw(st.sampled_from([0, 1, 2]))) + b"".join(fields) + body


def ws_url(stack: StackState, vsn: str) -> str:
    host = stack.supabase_url.removeprefix("http://")
    return f"ws://{host}/realtime/v1/websocket?apikey={stack.anon_key}&vsn={vsn}"


def heartbeat(vsn: str, ref: str) -> str:
    if vsn == "1.0.0":
        return json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": ref})
    return json.dumps([None, ref, "phoenix", "heartbeat", {}])


def answers_heartbeat(ws: Any, vsn: str) -> bool:
    """Send a heartbeat and read until its reply: True when answered, False when the server closed cleanly."""
    ref = f"hb-{next(_refs)}"
    try:
        ws.send(heartbeat(vsn, ref))
        while True:
            raw = ws.recv(timeout=REPLY_DEADLINE)
            if isinstance(raw, bytes):
                continue
            frame = json.loads(raw)
            got = frame.get("ref") if isinstance(frame, dict) else frame[1]
            if got == ref:
                return True
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else None
        assert code in CLEAN_CLOSE, f"closed with {code} ({closed.rcvd.reason if closed.rcvd else 'no close frame'})"
        return False


def services_log(stack: StackState) -> str:
    return (Path(stack.root) / "logs" / "services.log").read_text(errors="replace")


def failures(log: str) -> list[str]:
    return [line for line in log.splitlines() if "realtime.connection_failed" in line or line.startswith("Traceback")]


@pytest.fixture(scope="module")
def log_offset(stack: StackState) -> int:
    return len(services_log(stack))


@FUZZ
@given(data=st.data(), vsn=st.sampled_from(["1.0.0", "2.0.0"]))
def test_any_frames_get_an_answer_or_a_clean_close(stack, log_offset, data, vsn):
    frames = data.draw(st.lists(messages(vsn), min_size=1, max_size=3))
    with connect(ws_url(stack, vsn), open_timeout=REPLY_DEADLINE, close_timeout=2) as ws:
        try:
            for frame in frames:
                ws.send(frame)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code in CLEAN_CLOSE, closed
            return
        answers_heartbeat(ws, vsn)


def test_the_gateway_logged_no_failure_and_stays_healthy(stack, log_offset):
    assert failures(services_log(stack)[log_offset:]) == []
    assert httpx.get(f"{stack.supabase_url}/health", timeout=5).json()["status"] == "ok"


async def test_an_ordinary_client_still_joins_and_gets_changes(stack):
    with psycopg.connect(stack.db_url, autocommit=True) as db, published_table(db, "id int primary key") as table:
        client = await acreate_client(stack.supabase_url, stack.anon_key)
        inbox = Inbox()
        states = await subscribed(client.channel("after-fuzz").on_postgres_changes("INSERT", inbox, table=table))
        assert states[0][0] == "SUBSCRIBED"
        db.execute(sql.SQL("insert into {} values (1)").format(sql.Identifier(table)))
        assert record(await inbox.next()) == {"id": 1}
        await client.realtime.remove_all_channels()
