"""Supabase's pgmq_public wrappers: they work for service_role, and grants decide what anon may touch."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.types.json import Jsonb

QUEUE = "pgmq_public_probe"


@pytest.fixture
def db(platform_db: psycopg.Connection) -> psycopg.Connection:
    """These tests check what the platform gives a new project, so they run in a database ``sql/`` never touched."""
    return platform_db


@pytest.fixture
def queue(db: psycopg.Connection) -> Iterator[str]:
    db.execute("select pgmq.create(%s)", (QUEUE,))
    yield QUEUE
    db.execute("reset role")
    db.execute("select pgmq.drop_queue(%s)", (QUEUE,))


def test_wrappers_work_as_service_role(db, queue):
    db.execute("set role service_role")
    (first,) = db.execute("select * from pgmq_public.send(%s, %s)", (queue, Jsonb({"n": 1}))).fetchone()
    batch = [row[0] for row in db.execute("select * from pgmq_public.send_batch(%s, %s::jsonb[])",
                                          (queue, [Jsonb({"n": 2}), Jsonb({"n": 3})])).fetchall()]
    delayed = db.execute("select * from pgmq_public.send(%s, %s, 60)", (queue, Jsonb({"n": 4}))).fetchone()[0]
    assert first < batch[0] < batch[1] < delayed
    read = db.execute("select msg_id, read_ct, message from pgmq_public.read(%s, 30, 10)", (queue,)).fetchall()
    assert [(msg_id, message["n"]) for msg_id, _, message in read] == [(first, 1), (batch[0], 2), (batch[1], 3)]
    assert all(read_ct == 1 for _, read_ct, _ in read)
    assert db.execute("select pgmq_public.archive(%s, %s)", (queue, first)).fetchone()[0] is True
    assert db.execute("select pgmq_public.delete(%s, %s)", (queue, batch[0])).fetchone()[0] is True
    assert db.execute("select pgmq_public.delete(%s, %s)", (queue, batch[0])).fetchone()[0] is False
    db.execute("reset role")
    db.execute("update pgmq.q_pgmq_public_probe set vt = now() where msg_id = %s", (batch[1],))
    db.execute("set role service_role")
    popped = db.execute("select msg_id from pgmq_public.pop(%s)", (queue,)).fetchall()
    assert popped == [(batch[1],)]
    assert db.execute("select count(*) from pgmq.a_pgmq_public_probe").fetchone()[0] == 1


def test_anon_cannot_read_a_queue_without_grants(db, queue):
    db.execute("select pgmq.send(%s, %s)", (queue, Jsonb({"secret": True})))
    db.execute("set role anon")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="q_pgmq_public_probe"):
        db.execute("select * from pgmq_public.read(%s, 30, 1)", (queue,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("select * from pgmq_public.send(%s, '{}')", (queue,))
    db.execute("reset role")
    assert db.execute("select read_ct from pgmq.q_pgmq_public_probe").fetchone()[0] == 0


def test_the_wrappers_are_invoker_functions_open_to_the_api_roles(db):
    rows = db.execute("""
        select p.proname, p.prosecdef,
               has_function_privilege('anon', p.oid, 'execute'),
               has_function_privilege('service_role', p.oid, 'execute')
        from pg_proc p where p.pronamespace = 'pgmq_public'::regnamespace order by p.proname""").fetchall()
    assert [row[0] for row in rows] == ["archive", "delete", "pop", "read", "send", "send_batch"]
    assert all(row[1:] == (False, True, True) for row in rows)
