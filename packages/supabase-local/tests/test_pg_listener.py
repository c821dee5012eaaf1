"""The services' one LISTEN connection: each channel's notifications reach its subscribers and no others, every
subscriber catches up before a notification is handed over, a failing subscriber costs the others nothing, and a
dropped connection comes back and catches up again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from supabase_local.pg_listener import Listener
from supabase_local.state import StackState

WAIT_SECONDS = 10.0


class Recorder:
    """One subscriber's view: what it was handed, in order, and its catch-ups as ``"connected"``."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.changed = asyncio.Event()

    def on_notify(self, note: psycopg.Notify) -> None:
        self.seen.append(note.payload)
        self.changed.set()

    async def on_connect(self) -> None:
        self.seen.append("connected")
        self.changed.set()

    async def wait_for(self, count: int) -> list[str]:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(self.seen) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.seen


@pytest.fixture
def channels() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"first_{tag}", f"second_{tag}"


@pytest.fixture
async def listening(stack: StackState, channels: tuple[str, str]) -> AsyncIterator[tuple[Listener, Recorder,
                                                                                           Recorder]]:
    listener = Listener(stack.admin_url)
    first, second = Recorder(), Recorder()
    listener.subscribe("first", [channels[0]], first.on_notify, first.on_connect)
    listener.subscribe("second", [channels[1]], second.on_notify, second.on_connect)
    listener.start()
    async with asyncio.timeout(WAIT_SECONDS):
        await listener.connected.wait()
    yield listener, first, second
    await listener.stop()


def notify(admin_db: psycopg.Connection, channel: str, payload: str) -> None:
    admin_db.execute("select pg_notify(%s, %s)", (channel, payload))


async def test_each_channel_reaches_its_own_subscribers_after_they_caught_up(
        listening: tuple[Listener, Recorder, Recorder], channels: tuple[str, str],
        admin_db: psycopg.Connection) -> None:
    _, first, second = listening
    notify(admin_db, channels[0], "a")
    notify(admin_db, channels[1], "b")
    notify(admin_db, channels[0], "c")
    assert await first.wait_for(3) == ["connected", "a", "c"]
    assert await second.wait_for(2) == ["connected", "b"]


async def test_one_connection_listens_for_every_subscriber(listening: tuple[Listener, Recorder, Recorder],
                                                           channels: tuple[str, str],
                                                           admin_db: psycopg.Connection) -> None:
    tag = channels[0].removeprefix("first_")  # in both channels' names: a connection per subscriber counts 2
    listening_backends = admin_db.execute("select count(*) from pg_stat_activity where query ilike %s",
                                          (f"listen %{tag}%",)).fetchone()
    assert listening_backends == (1,)


async def test_a_subscriber_that_fails_costs_the_others_nothing(stack: StackState, channels: tuple[str, str],
                                                                admin_db: psycopg.Connection) -> None:
    listener = Listener(stack.admin_url)
    healthy = Recorder()

    def broken(_note: psycopg.Notify) -> None:
        raise RuntimeError("a bug in one service")

    listener.subscribe("broken", [channels[0]], broken)
    listener.subscribe("healthy", [channels[0]], healthy.on_notify, healthy.on_connect)
    listener.start()
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            await listener.connected.wait()
        notify(admin_db, channels[0], "one")
        notify(admin_db, channels[0], "two")
        assert await healthy.wait_for(3) == ["connected", "one", "two"]
        assert listener.connected.is_set()
    finally:
        await listener.stop()


async def test_a_dropped_connection_comes_back_and_catches_up(listening: tuple[Listener, Recorder, Recorder],
                                                              channels: tuple[str, str],
                                                              admin_db: psycopg.Connection) -> None:
    listener, first, second = listening
    dropped = admin_db.execute("select pg_terminate_backend(pid) from pg_stat_activity where query ilike %s",
                               (f"listen %{channels[1]}%",)).fetchall()
    assert dropped == [(True,)]
    assert await second.wait_for(2) == ["connected", "connected"]
    async with asyncio.timeout(WAIT_SECONDS):
        await listener.connected.wait()
    notify(admin_db, channels[0], "after")
    assert await first.wait_for(3) == ["connected", "connected", "after"]
    assert listener.problem is None


def test_subscribing_after_the_start_is_refused_with_the_owner_named(stack: StackState) -> None:
    async def started_then_subscribed() -> None:
        listener = Listener(stack.admin_url)
        listener.start()
        try:
            listener.subscribe("late", ["anything"], lambda _note: None)
        finally:
            await listener.stop()

    with pytest.raises(RuntimeError, match="late subscribed after the listener started"):
        asyncio.run(started_then_subscribed())
