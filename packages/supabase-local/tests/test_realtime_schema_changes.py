"""Bindings on a table whose shape changed after Realtime cached it: a filter or a column selection on a column
added a moment ago is accepted, whether or not the DDL notification has reached the gateway yet."""
# ruff: noqa: F811 - fixtures imported from realtime_support are redefined as test parameters

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from supabase import AsyncClient

from stack_support.realtime import Inbox, anon, published_table, record, subscribed  # noqa: F401
from supabase_local.realtime.bindings import BindingError, parse_binding
from supabase_local.realtime.catalog import Catalog
from supabase_local.state import StackState


def add_column(db: psycopg.Connection, table: str, column: str, kind: str) -> None:
    db.execute(sql.SQL("alter table {} add column {} {}").format(
        sql.Identifier(table), sql.Identifier(column), sql.SQL(kind)))


async def test_binding_on_a_column_added_after_caching(stack: StackState, db: psycopg.Connection) -> None:
    """A catalog that never hears the DDL notification (none is listening here) still accepts the column."""
    with published_table(db, "id int primary key") as table:
        async with AsyncConnectionPool(stack.db_url, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
            catalog = Catalog(pool)
            cached = await catalog.table("public", table)
            assert cached is not None and "level" not in cached.column_types
            add_column(db, table, "level", "int")
            raw = {"event": "INSERT", "schema": "public", "table": table, "filter": "level=gte.2",
                   "select": ["id", "level"]}
            binding = await parse_binding(raw, catalog)
            assert [(c.column, c.op, c.column_type) for c in binding.conditions] == [("level", "gte", "int4")]
            assert binding.select == ("id", "level")
            with pytest.raises(BindingError, match="column 'ghost' does not exist"):
                await parse_binding({**raw, "filter": "ghost=eq.1", "select": None}, catalog)


async def test_filter_on_new_column_through_the_client(anon: AsyncClient, db: psycopg.Connection) -> None:
    with published_table(db, "id int primary key") as table:
        await subscribed(anon.channel("before-ddl").on_postgres_changes("INSERT", Inbox(), table=table))  # cached now
        add_column(db, table, "priority", "int not null default 0")
        urgent, every = Inbox(), Inbox()
        channel = (anon.channel("after-ddl").on_postgres_changes("INSERT", urgent, table=table, filter="priority=gte.5")
                   .on_postgres_changes("INSERT", every, table=table))
        assert (await subscribed(channel))[0] == ("SUBSCRIBED", None)

        rows = sql.SQL("insert into {} (id, priority) values (1, 1), (2, 7), (3, 5)").format(sql.Identifier(table))
        db.execute(rows)
        assert [record(p) for p in await every.take(3)] == [{"id": 1, "priority": 1}, {"id": 2, "priority": 7},
                                                             {"id": 3, "priority": 5}]
        received = urgent.drained()
        assert [record(p)["id"] for p in received] == [2, 3]
        assert {"name": "priority", "type": "int4"} in received[0]["data"]["columns"]
