"""postgres_changes through the real supabase AsyncClient against the local stack's Realtime."""
# ruff: noqa: F811 - fixtures imported from realtime_support are redefined as test parameters

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from supabase import AsyncClient

from stack_support.realtime import Inbox, anon, kind, published_table, record, service, subscribed  # noqa: F401
from supabase_local.state import StackState


@pytest.fixture
def items(db: psycopg.Connection) -> Iterator[str]:
    with published_table(db, "id int primary key, status text not null, amount numeric, tags jsonb") as name:
        yield name


def insert(db: psycopg.Connection, table: str, *rows: tuple[object, ...]) -> None:
    query = sql.SQL("insert into {} (id, status, amount) values (%s, %s, %s)").format(sql.Identifier(table))
    with db.transaction():
        for row in rows:
            db.execute(query, row)


async def test_insert_update_delete_frames(anon: AsyncClient, db: psycopg.Connection, items: str) -> None:
    inbox = Inbox()
    channel = anon.channel("crud").on_postgres_changes("*", inbox, table=items)
    assert (await subscribed(channel))[0] == ("SUBSCRIBED", None)

    insert(db, items, (1, "pending", 10))
    db.execute(sql.SQL("update {} set status = 'done' where id = 1").format(sql.Identifier(items)))
    db.execute(sql.SQL("delete from {} where id = 1").format(sql.Identifier(items)))
    created, updated, deleted = await inbox.take(3)

    assert [kind(p) for p in (created, updated, deleted)] == ["INSERT", "UPDATE", "DELETE"]
    data = created["data"]
    assert data["schema"] == "public" and data["table"] == items and data["errors"] is None
    assert data["commit_timestamp"].endswith("Z")
    assert {"name": "status", "type": "text"} in data["columns"] and {"name": "id", "type": "int4"} in data["columns"]
    assert record(created) == {"id": 1, "status": "pending", "amount": 10, "tags": None}
    assert "old_record" not in data
    assert record(updated)["status"] == "done" and updated["data"]["old_record"] == {"id": 1}
    assert deleted["data"]["old_record"] == {"id": 1} and "record" not in deleted["data"]


async def test_replica_identity_full_sends_whole_old_row(anon: AsyncClient, db: psycopg.Connection,
                                                         items: str) -> None:
    db.execute(sql.SQL("alter table {} replica identity full").format(sql.Identifier(items)))
    inbox = Inbox()
    await subscribed(anon.channel("full").on_postgres_changes("UPDATE", inbox, table=items))
    insert(db, items, (1, "pending", 1))
    db.execute(sql.SQL("update {} set status = 'done'").format(sql.Identifier(items)))
    update = await inbox.next()
    assert update["data"]["old_record"] == {"id": 1, "status": "pending", "amount": 1, "tags": None}


@pytest.mark.parametrize(("flt", "expected"), [
    ("status=eq.pending", [1, 3]),
    ("status=neq.pending", [2, 4]),
    ("amount=gt.20", [3, 4]),
    ("amount=gte.20", [2, 3, 4]),
    ("amount=lt.20", [1]),
    ("amount=lte.20", [1, 2]),
    ("id=in.(2,4)", [2, 4]),
    ("status=in.(done,failed)", [2, 4]),
])
async def test_filters(anon: AsyncClient, db: psycopg.Connection, items: str, flt: str, expected: list[int]) -> None:
    inbox, every = Inbox(), Inbox()
    channel = (anon.channel(f"filter-{flt}")
               .on_postgres_changes("INSERT", inbox, table=items, filter=flt)
               .on_postgres_changes("INSERT", every, table=items))
    await subscribed(channel)
    insert(db, items, (1, "pending", 10), (2, "done", 20), (3, "pending", 30), (4, "failed", 40))
    await every.take(4)  # the unfiltered binding has seen the whole transaction, so the filtered one is done
    assert [record(p)["id"] for p in inbox.drained()] == expected


async def test_two_bindings_each_get_only_their_events(anon: AsyncClient, db: psycopg.Connection,
                                                       items: str) -> None:
    inserts, deletes = Inbox(), Inbox()
    channel = (anon.channel("two").on_postgres_changes("INSERT", inserts, table=items)
               .on_postgres_changes("DELETE", deletes, table=items))
    await subscribed(channel)
    insert(db, items, (1, "pending", 1))
    db.execute(sql.SQL("update {} set status = 'x'").format(sql.Identifier(items)))
    db.execute(sql.SQL("delete from {}").format(sql.Identifier(items)))
    assert kind(await deletes.next()) == "DELETE"
    assert [kind(p) for p in inserts.drained()] == ["INSERT"]
    assert deletes.drained() == []


async def test_rls_hides_rows_from_anon(anon: AsyncClient, service: AsyncClient, db: psycopg.Connection) -> None:
    with published_table(db, "id int primary key, public boolean not null") as name:
        table = sql.Identifier(name)
        db.execute(sql.SQL("alter table {} enable row level security").format(table))
        db.execute(sql.SQL("create policy public_rows on {} for select to anon using (public)").format(table))
        seen_by_anon, seen_by_service = Inbox(), Inbox()
        await subscribed(anon.channel("rls").on_postgres_changes("INSERT", seen_by_anon, table=name))
        await subscribed(service.channel("rls").on_postgres_changes("INSERT", seen_by_service, table=name))
        for key, public in ((1, False), (2, True)):
            db.execute(sql.SQL("insert into {} values (%s, %s)").format(table), (key, public))
        assert [record(p)["id"] for p in await seen_by_service.take(2)] == [1, 2]
        assert record(await seen_by_anon.next())["id"] == 2  # row 1 committed first and was never sent
        db.execute(sql.SQL("revoke select on {} from anon").format(table))
        db.execute(sql.SQL("insert into {} values (3, true)").format(table))
        assert record(await seen_by_service.next())["id"] == 3
        assert seen_by_anon.drained() == []


async def test_unpublished_table_is_silent_until_added(anon: AsyncClient, db: psycopg.Connection) -> None:
    with published_table(db, "id int primary key", publish=False) as name:
        inbox = Inbox()
        state, error = (await subscribed(anon.channel("late").on_postgres_changes("*", inbox, table=name)))[0]
        assert state == "CHANNEL_ERROR" and "supabase_realtime" in str(error)
        db.execute(sql.SQL("alter publication supabase_realtime add table {}").format(sql.Identifier(name)))
        again = Inbox()
        await subscribed(anon.channel("late2").on_postgres_changes("*", again, table=name))
        db.execute(sql.SQL("insert into {} values (7)").format(sql.Identifier(name)))
        assert record(await again.next()) == {"id": 7}


async def test_burst_of_1000_changes_complete_and_in_order(anon: AsyncClient, db: psycopg.Connection,
                                                           items: str) -> None:
    inbox = Inbox()
    await subscribed(anon.channel("burst").on_postgres_changes("INSERT", inbox, table=items))
    query = sql.SQL("insert into {} (id, status) values (%s, 'pending')").format(sql.Identifier(items))
    with db.cursor() as cur:
        cur.executemany(query, [(i,) for i in range(1000)])  # autocommit: 1,000 separate transactions
    received = [record(p)["id"] for p in await inbox.take(1000)]
    assert received == list(range(1000))


async def test_large_rows_pass(anon: AsyncClient, db: psycopg.Connection, items: str) -> None:
    inbox = Inbox()
    await subscribed(anon.channel("large").on_postgres_changes("INSERT", inbox, table=items))
    big = "x" * 100_000  # far above NOTIFY's 8,000-byte payload limit
    db.execute(sql.SQL("insert into {} (id, status) values (1, %s)").format(sql.Identifier(items)), (big,))
    assert record(await inbox.next())["status"] == big


async def test_small_and_large_rows_of_one_transaction_keep_their_order(anon: AsyncClient, db: psycopg.Connection,
                                                                        items: str) -> None:
    """Small rows and rows far above a notification's size, mixed in one transaction and around it, arrive in
    the order they were written."""
    inbox = Inbox()
    await subscribed(anon.channel("mixed").on_postgres_changes("INSERT", inbox, table=items))
    statuses = ["before", "small", "x" * 20_000, "small again", "y" * 20_000, "last"]
    query = sql.SQL("insert into {} (id, status) values (%s, %s)").format(sql.Identifier(items))
    db.execute(query, (0, statuses[0]))
    with db.transaction():
        for index, status in enumerate(statuses[1:-1], start=1):
            db.execute(query, (index, status))
    db.execute(query, (len(statuses) - 1, statuses[-1]))
    received = [record(p) for p in await inbox.take(len(statuses))]
    assert [(row["id"], row["status"]) for row in received] == list(enumerate(statuses))


@pytest.mark.parametrize(("binding", "reason"), [
    ({"table": "no_such_table"}, "does not exist"),
    ({"filter": "status=eq"}, "invalid filter"),
    ({"filter": "nope=eq.1"}, "does not exist"),
    ({"filter": "status=like_not.x"}, "unknown operator"),
    ({"filter": "amount=gt.abc"}, "invalid value"),
])
async def test_bad_bindings_get_channel_error(anon: AsyncClient, items: str, binding: dict[str, str],
                                              reason: str) -> None:
    options = {"table": items, **binding}
    channel = anon.channel(f"bad-{reason}").on_postgres_changes("INSERT", Inbox(), **options)
    state, error = (await subscribed(channel))[0]
    assert state == "CHANNEL_ERROR"
    assert reason in str(error)


async def test_access_token_rechecks_the_role(anon: AsyncClient, stack: StackState, db: psycopg.Connection) -> None:
    with published_table(db, "id int primary key, public boolean not null") as name:
        table = sql.Identifier(name)
        db.execute(sql.SQL("alter table {} enable row level security").format(table))
        db.execute(sql.SQL("create policy public_rows on {} for select to anon using (public)").format(table))
        inbox = Inbox()
        await subscribed(anon.channel("token").on_postgres_changes("INSERT", inbox, table=name))
        db.execute(sql.SQL("insert into {} values (1, false), (2, true)").format(table))
        assert record(await inbox.next())["id"] == 2
        await anon.realtime.set_auth(stack.service_role_key)  # pushes access_token on the joined channel
        db.execute(sql.SQL("insert into {} values (3, false)").format(table))
        assert record(await inbox.next())["id"] == 3
