"""Unit tests of the Realtime building blocks: filters, serializers, presence, the bounded outbox and
the fan-out of change batches."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import struct
from collections.abc import Callable

import pytest

from supabase_local.realtime.capture import Change
from supabase_local.realtime.dispatch import iso_z
from supabase_local.realtime.fanout import Patience, fan_out
from supabase_local.realtime.filters import FilterError, matches_all, parse_filter
from supabase_local.realtime.outbox import Outbox
from supabase_local.realtime.presence import PresenceBoard
from supabase_local.realtime.protocol import Frame, ProtocolError, RawJson, Serializer, push

COLUMNS = {"id": "int8", "status": "text", "done": "bool", "price": "numeric", "at": "timestamptz"}


@pytest.mark.parametrize(("text", "row", "expected"), [
    ("id=eq.5", {"id": 5}, True),
    ("id=eq.5", {"id": 6}, False),
    ("price=gt.1.5", {"price": 2}, True),
    ("price=lte.1.5", {"price": 1.5}, True),
    ("status=in.(a,\"b,c\")", {"status": "b,c"}, True),
    ("status=neq.a", {"status": None}, False),
    ("status=is.null", {"status": None}, True),
    ("done=eq.true", {"done": True}, True),
    ("status=like.job-%", {"status": "job-7"}, True),
    ("status=ilike.JOB*", {"status": "job-7"}, True),
    ("at=gt.2026-01-01T00:00:00+00:00", {"at": "2026-02-01T00:00:00+00:00"}, True),
    ("id=gt.1,status=eq.a", {"id": 2, "status": "a"}, True),
    ("id=gt.1,status=eq.a", {"id": 2, "status": "b"}, False),
])
def test_filter_matching(text: str, row: dict[str, object], expected: bool) -> None:
    assert matches_all(parse_filter(text, COLUMNS), row) is expected


@pytest.mark.parametrize("text", ["id", "id=eq", "id=around.5", "ghost=eq.1", "id=eq.five", "done=eq.maybe",
                                  "status=in.a,b", "status=is.maybe"])
def test_bad_filters_raise(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text, COLUMNS)


def test_v1_frames_are_objects_with_ref_null() -> None:
    serializer = Serializer("1.0.0")
    text = serializer.encode(push("realtime:t", "broadcast", {"event": "e", "payload": {}}))
    assert json.loads(text) == {"event": "broadcast", "payload": {"event": "e", "payload": {}}, "ref": None,
                                "topic": "realtime:t"}
    frame = serializer.decode('{"topic":"t","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}')
    assert frame == Frame("t", "phx_join", {}, "1", "1")
    with pytest.raises(ProtocolError):
        serializer.decode('["1","1","t","phx_join",{}]')


def test_v2_frames_are_arrays_and_broadcasts_binary() -> None:
    serializer = Serializer("2.0.0")
    frame = serializer.decode('["1","2","realtime:t","phx_join",{"config":{}}]')
    assert frame == Frame("realtime:t", "phx_join", {"config": {}}, "2", "1")
    reply = serializer.encode(Frame("realtime:t", "phx_reply", {"status": "ok", "response": {}}, "2", "1"))
    assert json.loads(reply) == ["1", "2", "realtime:t", "phx_reply", {"status": "ok", "response": {}}]
    binary = serializer.encode(push("realtime:t", "broadcast", {"type": "broadcast", "event": "e",
                                                                "payload": {"a": 1}}))
    assert isinstance(binary, bytes)
    kind, topic_size, event_size, meta_size, encoding = struct.unpack("!BBBBB", binary[:5])
    assert (kind, meta_size, encoding) == (4, 0, 1) and binary[5:5 + topic_size] == b"realtime:t"
    assert binary[5 + topic_size:5 + topic_size + event_size] == b"e"
    assert json.loads(binary[5 + topic_size + event_size:]) == {"a": 1}
    fields = [b"1", b"7", b"realtime:t", b"e", b""]
    pushed = struct.pack("!7B", 3, *map(len, fields), 1) + b"".join(fields) + b'{"n":2}'
    assert serializer.decode(pushed) == Frame("realtime:t", "broadcast",
                                              {"type": "broadcast", "event": "e", "payload": {"n": 2}}, "7", "1")
    with pytest.raises(ProtocolError):
        serializer.decode(b"\x03\x01")
    with pytest.raises(ProtocolError):
        Serializer("3.0.0")


def test_v2_database_broadcasts_carry_their_id_as_metadata() -> None:
    binary = Serializer("2.0.0").encode(push("realtime:t", "broadcast", {
        "type": "broadcast", "event": "e", "payload": {"a": 1}, "meta": {"id": "m1"}}))
    assert isinstance(binary, bytes)
    _, topic_size, event_size, meta_size, _ = struct.unpack("!BBBBB", binary[:5])
    start = 5 + topic_size + event_size
    assert json.loads(binary[start:start + meta_size]) == {"id": "m1"}
    assert json.loads(binary[start + meta_size:]) == {"a": 1}


def test_a_raw_json_payload_goes_into_every_frame_form_unparsed() -> None:
    raw = RawJson('{"a": [1, 2.5], "b": "x\\ny"}')
    payload = {"type": "broadcast", "event": "e", "payload": raw, "meta": {"id": "m1"}}
    expected = {"type": "broadcast", "event": "e", "payload": {"a": [1, 2.5], "b": "x\ny"}, "meta": {"id": "m1"}}
    v1 = Serializer("1.0.0").encode(push("realtime:t", "broadcast", payload))
    assert json.loads(v1) == {"event": "broadcast", "payload": expected, "ref": None, "topic": "realtime:t"}
    binary = Serializer("2.0.0").encode(push("realtime:t", "broadcast", payload))
    assert isinstance(binary, bytes) and binary.endswith(raw.encode())
    long_topic = "realtime:" + "t" * 300  # too long for the binary header: the JSON array form
    array = Serializer("2.0.0").encode(push(long_topic, "broadcast", payload))
    assert json.loads(array) == [None, None, long_topic, "broadcast", expected]
    alone = Serializer("1.0.0").encode(push("realtime:t", "broadcast", {"payload": RawJson("null")}))
    assert json.loads(alone)["payload"] == {"payload": None}


def test_presence_board_diffs() -> None:
    board = PresenceBoard()
    first = board.track("t", "owner-1", "alice", {"s": 1})
    assert list(first["joins"]) == ["alice"] and first["leaves"] == {}
    second = board.track("t", "owner-1", "alice", {"s": 2})
    assert second["leaves"]["alice"]["metas"][0]["s"] == 1 and second["joins"]["alice"]["metas"][0]["s"] == 2
    board.track("t", "owner-2", "alice", {"s": 3})
    assert [meta["s"] for meta in board.state("t")["alice"]["metas"]] == [2, 3]
    assert board.untrack("t", "owner-1")["leaves"]["alice"]["metas"][0]["s"] == 2
    assert board.untrack("t", "owner-1") is None


async def test_outbox_drops_a_client_that_stops_reading() -> None:
    outbox = Outbox(Serializer("1.0.0"), limit=3)
    stalled = asyncio.Event()

    async def never_finishes(_: str | bytes) -> None:
        stalled.set()
        await asyncio.Event().wait()  # a client whose socket never drains (edge of the unit)

    writer = asyncio.create_task(outbox.run(never_finishes))
    outbox.put(push("t", "x", {}))
    await asyncio.wait_for(stalled.wait(), 5)
    for _ in range(3):
        outbox.put(push("t", "x", {}))
    assert not outbox.overflowed.is_set()
    outbox.put(push("t", "x", {}))  # the fourth queued frame: over the limit, never waits
    assert outbox.overflowed.is_set()
    writer.cancel()


def test_the_feed_leaves_a_reserve_for_replies() -> None:
    outbox = Outbox(Serializer("1.0.0"), limit=10)
    offered = [outbox.offer(push("t", "change", {"n": n})) for n in range(10)]
    assert offered == [True] * 9 + [False]  # the feed stops at nine: one slot stays for replies
    outbox.put(push("t", "phx_reply", {}))
    assert len(outbox) == 10 and not outbox.overflowed.is_set()


async def collect(outbox: Outbox, sink: list[str | bytes]) -> None:
    """A writer whose client reads at once (edge of the unit: the socket is a list)."""
    async def send(data: str | bytes) -> None:
        sink.append(data)
        await asyncio.sleep(0)  # yield as a socket write would
    await outbox.run(send)


async def test_fan_out_gives_a_fast_client_a_batch_larger_than_its_queue() -> None:
    outbox, sink = Outbox(Serializer("1.0.0"), limit=5), []
    writer = asyncio.create_task(collect(outbox, sink))
    frames = [push("t", "change", {"n": n}) for n in range(200)]
    await fan_out({outbox: frames}, Patience(stall_seconds=5, batch_seconds=30))
    await wait_until(lambda: len(sink) == 200)
    assert [json.loads(data)["payload"]["n"] for data in sink] == list(range(200))
    assert not outbox.overflowed.is_set()
    writer.cancel()


async def test_fan_out_drops_a_stalled_client_and_serves_the_others() -> None:
    stalled, fast, sink = Outbox(Serializer("1.0.0"), limit=4), Outbox(Serializer("1.0.0"), limit=4), []
    writer = asyncio.create_task(collect(fast, sink))
    frames = [push("t", "change", {"n": n}) for n in range(50)]
    await fan_out({stalled: frames, fast: frames}, Patience(stall_seconds=0.2, batch_seconds=30))
    assert stalled.overflowed.is_set() and not fast.overflowed.is_set()
    await wait_until(lambda: len(sink) == 50)
    assert [json.loads(data)["payload"]["n"] for data in sink] == list(range(50))
    writer.cancel()


async def test_fan_out_stops_waiting_for_a_connection_that_closes() -> None:
    outbox = Outbox(Serializer("1.0.0"), limit=2)
    delivery = asyncio.create_task(fan_out({outbox: [push("t", "change", {})] * 10}, Patience(60, 60)))
    await wait_until(lambda: outbox.room is not None and len(outbox) == outbox.feed_limit)
    outbox.close()
    await asyncio.wait_for(delivery, 5)
    assert not outbox.overflowed.is_set()


async def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    """Poll ``condition`` on the event loop until it holds, with a deadline."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


@pytest.mark.parametrize(("moment", "expected"), [
    (dt.datetime(2026, 11, 27, 14, 25, 17, 123999, tzinfo=dt.UTC), "2026-11-27T14:25:17.123Z"),
    (dt.datetime(2026, 11, 27, 14, 25, 17, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2026-11-27T12:25:17.000Z"),
])
def test_commit_timestamps_are_utc_milliseconds_with_z(moment: dt.datetime, expected: str) -> None:
    change = Change(1, "public", "t", "INSERT", {}, None, moment, "1")
    assert iso_z(change) == expected
