"""Realtime captures changes only of tables someone subscribes to (``realtime.watched_tables``), as hosted
Realtime decodes changes only for the tables in ``realtime.subscription``; joins list a table before their
"ok", leaves unlist it, and nothing a subscriber should see is missed. Broadcast rows are kept whatever the
topic, and notified to the gateway only for topics with a join (``realtime.joined_topics``)."""
# ruff: noqa: F811 - fixtures imported from realtime_support are redefined as test parameters

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from supabase import AsyncClient, acreate_client

from stack_support.realtime import Inbox, anon, published_table, record, subscribed  # noqa: F401
from supabase_local.state import StackState
from supabase_local.testing import eventually


@pytest.fixture
def table(db: psycopg.Connection) -> Iterator[str]:
    with published_table(db, "id int primary key, note text") as name:
        db.execute(sql.SQL("grant select on {} to anon").format(sql.Identifier(name)))
        yield name


def covered(admin_db: psycopg.Connection, table: str) -> bool:
    """True when some listed pattern covers ``public.<table>``."""
    return admin_db.execute("select exists (select from realtime.watched_tables "
                            "where schema_name in ('public', '*') and table_name in (%s, '*'))",
                            (table,)).fetchone()[0]


def captured_in_own_transaction(admin_db: psycopg.Connection, table: str) -> int:
    """Insert a row and count the change-log rows of that transaction before it commits (so the gateway cannot
    have taken them yet); rolled back."""
    with admin_db.transaction(force_rollback=True):
        admin_db.execute(sql.SQL("insert into public.{} (id, note) values (1, 'x')").format(sql.Identifier(table)))
        return admin_db.execute("select count(*) from realtime.change_log "
                                "where xid = pg_current_xact_id()").fetchone()[0]


async def test_a_table_nobody_watches_writes_no_change(admin_db: psycopg.Connection, table: str) -> None:
    eventually(lambda: not covered(admin_db, table), what="no subscription covers the fresh table")
    assert captured_in_own_transaction(admin_db, table) == 0


async def test_join_lists_the_table_before_ok_and_leave_unlists_it(
        anon: AsyncClient, admin_db: psycopg.Connection, table: str) -> None:
    channel = anon.channel("watch-one").on_postgres_changes("*", Inbox(), table=table)
    assert (await subscribed(channel))[0] == ("SUBSCRIBED", None)
    assert covered(admin_db, table)
    assert captured_in_own_transaction(admin_db, table) == 1

    await anon.realtime.remove_channel(channel)
    eventually(lambda: not covered(admin_db, table), what="the table unlisted after the only subscriber left")


async def test_a_second_subscriber_keeps_the_table_listed_when_the_first_leaves(
        anon: AsyncClient, stack: StackState, db: psycopg.Connection, admin_db: psycopg.Connection,
        table: str) -> None:
    other = await acreate_client(stack.supabase_url, stack.anon_key)
    try:
        first = anon.channel("watch-first").on_postgres_changes("INSERT", Inbox(), table=table)
        inbox = Inbox()
        second = other.channel("watch-second").on_postgres_changes("INSERT", inbox, table=table)
        assert (await subscribed(first))[0] == ("SUBSCRIBED", None)
        assert (await subscribed(second))[0] == ("SUBSCRIBED", None)
        await anon.realtime.remove_channel(first)
        rejoined = anon.channel("watch-again").on_postgres_changes("INSERT", Inbox(), table=table)
        assert (await subscribed(rejoined))[0] == ("SUBSCRIBED", None)
        await anon.realtime.remove_channel(rejoined)

        db.execute(sql.SQL("insert into {} (id, note) values (7, 'seen')").format(sql.Identifier(table)))
        assert record(await inbox.next()) == {"id": 7, "note": "seen"}
        assert covered(admin_db, table)
    finally:
        await other.realtime.remove_all_channels()


async def test_a_wildcard_binding_lists_every_table_of_its_schema(
        anon: AsyncClient, db: psycopg.Connection, admin_db: psycopg.Connection, table: str) -> None:
    inbox = Inbox()
    channel = anon.channel("watch-schema").on_postgres_changes("INSERT", inbox, schema="public")
    assert (await subscribed(channel))[0] == ("SUBSCRIBED", None)
    assert covered(admin_db, table)

    db.execute(sql.SQL("insert into {} (id, note) values (3, 'any table')").format(sql.Identifier(table)))
    payloads = await inbox.until(lambda payload: payload["data"]["table"] == table)
    assert record(payloads[-1]) == {"id": 3, "note": "any table"}


def joined(admin_db: psycopg.Connection, topic: str) -> bool:
    return admin_db.execute("select exists (select from realtime.joined_topics where topic = %s)",
                            (topic,)).fetchone()[0]


async def test_a_broadcast_to_a_topic_nobody_joined_is_kept_and_not_notified(
        anon: AsyncClient, admin_db: psycopg.Connection, stack: StackState) -> None:
    alone, watched = f"alone-{uuid.uuid4().hex[:8]}", f"watched-{uuid.uuid4().hex[:8]}"
    inbox = Inbox()
    channel = anon.channel(watched).on_broadcast("note", inbox)
    assert (await subscribed(channel))[0] == ("SUBSCRIBED", None)
    assert joined(admin_db, watched) and not joined(admin_db, alone)
    with psycopg.connect(stack.admin_url, autocommit=True) as listener:
        listener.execute("listen realtime_messages")
        for topic in (alone, watched):  # two commits: notifications arrive in commit order
            admin_db.execute("select realtime.send('{}', 'note', %s, false)", (topic,))
        topics = []
        for note in listener.notifies(timeout=5):
            topics.append(json.loads(note.payload.partition("\n")[0])["topic"])  # the routing line
            if topics[-1] == watched:
                break
    assert watched in topics and alone not in topics
    assert (await inbox.next())["event"] == "note"
    kept = admin_db.execute("select count(*) from realtime.messages where topic = %s", (alone,)).fetchone()[0]
    assert kept == 1

    await anon.realtime.remove_channel(channel)
    eventually(lambda: not joined(admin_db, watched), what="the topic unlisted after its only join left")
