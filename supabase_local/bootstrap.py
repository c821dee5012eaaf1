"""Give a fresh PostgreSQL the shape of a Supabase project; every step is safe to run again.

Order matters: roles and schemas, then PGMQ (its script is not re-runnable, so it is guarded), then the
platform SQL files that build on it (``pgmq_public``, the pg_net- and pg_cron-compatible schemas, and
the change capture Realtime reads).
"""

from __future__ import annotations

import re
from importlib.resources import files

import psycopg
import structlog
from pgmq.install import get_embedded_install_sql
from psycopg import sql

from supabase_local.state import StackState

log = structlog.get_logger(__name__)

BEFORE_PGMQ = ("00_roles.sql", "01_schemas.sql")
# A platform file that stands in for an extension starts with this line; it is skipped where the real
# extension is available.
UNLESS_EXTENSION = re.compile(r"\A-- unless-extension-available: (\w+)")


def _platform_sql_files() -> list[tuple[str, str]]:
    folder = files("supabase_local").joinpath("sql")
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name, folder.joinpath(name).read_text(encoding="utf-8")) for name in names]


def _provided_by_extension(conn: psycopg.Connection, text: str) -> bool:
    """True when ``text`` stands in for an extension this server has, so the real one should be used."""
    match = UNLESS_EXTENSION.match(text)
    if match is None:
        return False
    found = conn.execute("select 1 from pg_available_extensions where name = %s", (match.group(1),)).fetchone()
    return found is not None


def install_pgmq(conn: psycopg.Connection) -> bool:
    """Install the PGMQ SQL bundled in the ``pgmq`` wheel unless it is there; True when it installed it."""
    if conn.execute("select to_regtype('pgmq.message_record') is not null").fetchone()[0]:
        return False
    with conn.transaction():
        conn.execute(get_embedded_install_sql())
    return True


def bootstrap(state: StackState) -> None:
    """Apply roles, schemas, PGMQ and the platform SQL to the stack's database."""
    with psycopg.connect(state.db_url, autocommit=True) as conn:
        scripts = _platform_sql_files()
        for name, text in scripts:
            if name in BEFORE_PGMQ:
                with conn.transaction():
                    conn.execute(text)
        conn.execute(sql.SQL("alter role authenticator with login password {}").format(
            sql.Literal(state.authenticator_password)))
        installed = install_pgmq(conn)
        for name, text in scripts:
            if name not in BEFORE_PGMQ and not _provided_by_extension(conn, text):
                with conn.transaction():
                    conn.execute(text)
    log.info("bootstrap.done", pgmq_installed_now=installed, scripts=len(scripts))
