"""The PGMQ the stack presents: 1.4.4 and 1.5.1 as hosted Supabase ships them, or the bundled 1.13; the
project's schema provisions on the oldest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from psycopg.types.json import Jsonb

from jobqueue.provision import provision
from jobqueue.settings import Settings
from supabase_local.pgmq_surface import SURFACE_ENV, SurfaceError, chosen
from supabase_local.state import StackState
from supabase_local.testing import new_database
from tests.schema_helpers import call


def test_the_surface_defaults_to_the_newest_supabase_ships_and_refuses_others():
    assert chosen({}) == "1.5.1"
    assert chosen({SURFACE_ENV: "1.4.4"}) == "1.4.4"
    with pytest.raises(SurfaceError, match=SURFACE_ENV):
        chosen({SURFACE_ENV: "1.6"})


@pytest.fixture(scope="module")
def oldest(stack: StackState) -> Iterator[str]:
    """A new database whose PGMQ looks like 1.4.4, as on older hosted projects."""
    with new_database(replace(stack, pgmq_surface="1.4.4")) as url:
        yield url


COLUMNS = "select attname from pg_attribute where attrelid = %(r)s::regclass and attnum > 0 and not attisdropped " \
          "order by attnum"


def columns(conn: psycopg.Connection, relation: str) -> list[str]:
    return [row["attname"] for row in call(conn, COLUMNS, {"r": relation})]


def test_the_oldest_surface_has_1_4_4s_functions_and_columns(oldest):
    with psycopg.connect(oldest, autocommit=True) as conn:
        sends = [row["s"] for row in call(conn, "select p.oid::regprocedure::text as s from pg_proc p "
                                                "where p.pronamespace = 'pgmq'::regnamespace and p.proname = 'send'")]
        assert sends == ["pgmq.send(text,jsonb,integer)"]
        assert call(conn, "select to_regproc('pgmq.send_topic') is null as gone")[0]["gone"]
        call(conn, "select pgmq.create('surface_probe')")
        assert columns(conn, "pgmq.q_surface_probe") == ["msg_id", "read_ct", "enqueued_at", "vt", "message"]
        assert columns(conn, "pgmq.a_surface_probe") == ["msg_id", "read_ct", "enqueued_at", "archived_at", "vt",
                                                         "message"]
        (sent,) = [row["send"] for row in call(conn, "select * from pgmq.send('surface_probe', %(m)s)",
                                                 {"m": Jsonb({"n": 1})})]
        read = call(conn, "select * from pgmq.read('surface_probe', 30, 5)")
        assert [(row["msg_id"], row["read_ct"], row["message"]) for row in read] == [(sent, 1, {"n": 1})]
        assert call(conn, "select pgmq.archive('surface_probe', %(m)s) as done", {"m": sent})[0]["done"] is True
        with pytest.raises(psycopg.errors.UndefinedFunction):
            conn.execute("select pgmq.send('surface_probe', '{}'::jsonb, '{}'::jsonb)")


def test_the_schema_provisions_on_the_oldest_surface(oldest, provisioned: Settings):
    first = provision(replace(provisioned, db_url=oldest))
    assert first.applied
    assert provision(replace(provisioned, db_url=oldest)).applied == []
    with psycopg.connect(oldest, autocommit=True) as conn:
        job = call(conn, "select * from public.submit_job('on 1.4.4')")[0]
        assert call(conn, "select message->>'task_name' as t from pgmq.q_work_queue where msg_id = %(m)s",
                    {"m": job["msg_id"]}) == [{"t": "on 1.4.4"}]
