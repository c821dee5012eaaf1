"""Realtime survives restarts: of the gateway process (clients reconnect) and of PostgreSQL (the change feed
reconnects and delivers what committed meanwhile). Runs on a stack of its own, since it restarts things."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg import sql
from supabase import AsyncClient, acreate_client

from stack_support.cli import run_cli, running_stack
from stack_support.realtime import DEADLINE_SECONDS, Inbox, create_table, drop_table, record
from supabase_local import postgres
from supabase_local.state import StackState, load_state


@pytest.fixture(scope="module")
def own_stack() -> Iterator[Path]:
    with running_stack() as directory:
        yield directory


def current(directory: Path) -> StackState:
    state = load_state(directory)
    assert state is not None
    return state


@pytest.fixture
def table(own_stack: Path) -> Iterator[str]:
    with psycopg.connect(current(own_stack).db_url, autocommit=True) as db:
        name = create_table(db, "id int primary key")
    yield name
    with psycopg.connect(current(own_stack).db_url, autocommit=True) as db:  # a new one: the server restarted
        drop_table(db, name)


@pytest.fixture
async def client(own_stack: Path) -> AsyncIterator[AsyncClient]:
    state = current(own_stack)
    sb = await acreate_client(state.supabase_url, state.anon_key)
    yield sb
    await sb.realtime.remove_all_channels()


def insert(state: StackState, table: str, key: int) -> None:
    with psycopg.connect(state.db_url, autocommit=True) as db:
        db.execute(sql.SQL("insert into {} values (%s)").format(sql.Identifier(table)), (key,))


def restart_services(state: StackState) -> None:
    """Stop the services process and let ``python -m supabase_local start`` bring it back on the same port."""
    services = psutil.Process(state.services_pid)
    services.send_signal(signal.SIGTERM)
    services.wait(DEADLINE_SECONDS)
    started = run_cli(Path(state.root), "start")
    assert started.returncode == 0, started.stderr
    assert current(Path(state.root)).gateway_port == state.gateway_port, "clients reconnect to the same URL"


class States:
    """The subscribe states of a channel, with a wait for the n-th SUBSCRIBED."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.changed = asyncio.Event()

    def __call__(self, state: object, _error: Exception | None) -> None:
        self.seen.append(str(getattr(state, "value", state)))
        self.changed.set()

    async def subscribed(self, times: int) -> None:
        async def loop() -> None:
            while self.seen.count("SUBSCRIBED") < times:
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(loop(), 30)


async def test_clients_reconnect_after_gateway_restart(own_stack: Path, table: str, client: AsyncClient) -> None:
    inbox, states = Inbox(), States()
    channel = client.channel("restart").on_postgres_changes("INSERT", inbox, table=table)
    await channel.subscribe(states)
    await states.subscribed(1)
    state = current(own_stack)
    insert(state, table, 1)
    assert record(await inbox.next())["id"] == 1

    restart_services(state)

    await states.subscribed(2)  # the client reconnected and rejoined by itself
    insert(state, table, 2)
    assert record(await inbox.next())["id"] == 2


async def test_changes_resume_after_database_restart(own_stack: Path, table: str, client: AsyncClient) -> None:
    inbox = Inbox()
    states = States()
    await client.channel("db-restart").on_postgres_changes("INSERT", inbox, table=table).subscribe(states)
    await states.subscribed(1)
    state = current(own_stack)
    insert(state, table, 1)
    assert record(await inbox.next())["id"] == 1

    postgres.stop(state)
    postgres.start(state)
    insert(state, table, 2)  # committed while the gateway may still be reconnecting
    insert(state, table, 3)
    assert [record(p)["id"] for p in await inbox.take(2, timeout=30)] == [2, 3]
    assert states.seen == ["SUBSCRIBED"]  # the websocket itself never dropped
