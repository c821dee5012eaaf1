"""The capture trigger keeps of an old row what the WAL would hold: the primary key, or the whole row with
``replica identity full``; DDL that changes either re-arms the trigger."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from stack_support.realtime import published_table


@pytest.fixture
def table(db: psycopg.Connection) -> Iterator[str]:
    with published_table(db, "id int primary key, status text, note text") as name:
        yield name


def trigger_arguments(admin_db: psycopg.Connection, table: str) -> list[str]:
    row = admin_db.execute("select t.tgargs from pg_trigger t where t.tgrelid = %s::regclass "
                           "and t.tgname = 'realtime_capture'", (f"public.{table}",)).fetchone()
    return [] if row is None else bytes(row[0]).decode().split("\x00")[:-1]


def captured_old_record(admin_db: psycopg.Connection, table: str) -> object:
    """Update a row while the table is watched and return the old record the change log kept; rolled back."""
    name = sql.Identifier(table)
    with admin_db.transaction(force_rollback=True):
        admin_db.execute("insert into realtime.watched_tables values ('public', %s) on conflict do nothing", (table,))
        admin_db.execute(sql.SQL("insert into public.{} values (1, 'pending', 'n')").format(name))
        admin_db.execute(sql.SQL("update public.{} set status = 'done' where id = 1").format(name))
        return admin_db.execute("select old_record from realtime.change_log where xid = pg_current_xact_id() "
                                "and op = 'UPDATE'").fetchone()[0]


def test_an_update_keeps_the_old_key_only(admin_db: psycopg.Connection, table: str) -> None:
    assert trigger_arguments(admin_db, table) == ["key", "id"]
    assert captured_old_record(admin_db, table) == {"id": 1}


def test_replica_identity_full_keeps_the_whole_old_row(db: psycopg.Connection, admin_db: psycopg.Connection,
                                                      table: str) -> None:
    db.execute(sql.SQL("alter table {} replica identity full").format(sql.Identifier(table)))
    assert trigger_arguments(admin_db, table) == ["full"]
    assert captured_old_record(admin_db, table) == {"id": 1, "status": "pending", "note": "n"}

    db.execute(sql.SQL("alter table {} replica identity default").format(sql.Identifier(table)))
    assert trigger_arguments(admin_db, table) == ["key", "id"]


def test_a_renamed_key_column_re_arms_the_trigger(db: psycopg.Connection, admin_db: psycopg.Connection,
                                                  table: str) -> None:
    db.execute(sql.SQL("alter table {} rename column id to job").format(sql.Identifier(table)))
    assert trigger_arguments(admin_db, table) == ["key", "job"]
    name = sql.Identifier(table)
    with admin_db.transaction(force_rollback=True):
        admin_db.execute("insert into realtime.watched_tables values ('public', %s) on conflict do nothing", (table,))
        admin_db.execute(sql.SQL("insert into public.{} values (4, 'pending', 'n')").format(name))
        admin_db.execute(sql.SQL("delete from public.{}").format(name))
        old = admin_db.execute("select old_record from realtime.change_log where xid = pg_current_xact_id() "
                               "and op = 'DELETE'").fetchone()[0]
    assert old == {"job": 4}
