"""Give a fresh PostgreSQL the shape of a Supabase project, once, as installing extensions would.

Everything here runs as ``supabase_admin``, the stack's superuser, so the platform is its own, as on hosted
Supabase; ``postgres`` gets the attributes and grants Supabase gives it (``00_roles.sql``). Order matters:
roles and schemas, then PGMQ (its script is not re-runnable, so it is guarded) cut to the surface of the
PGMQ version chosen (``pgmq_surface``), then the platform SQL files that build on it (``pgmq_public``,
the pg_net-, pg_cron- and Vault-compatible schemas, and the change capture Realtime reads). Each file is
applied once and recorded with its checksum, and applied again only when it changes (an upgrade), so a
project's own revokes survive a restart as they do on Supabase, where extension grants are made when the
extension is created.
"""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files

import psycopg
import structlog
from pgmq.install import get_embedded_install_sql
from psycopg import sql

from supabase_local import pgmq_surface
from supabase_local.state import StackState

log = structlog.get_logger(__name__)

BEFORE_PGMQ = ("00_roles.sql", "01_schemas.sql")
# A platform file that stands in for an extension starts with this line; it is skipped where the real
# extension is available, and the real one is created instead when the line says in which schema.
UNLESS_EXTENSION = re.compile(r"\A-- unless-extension-available: (\w+)(?:, else create it in (\w+))?")


def _platform_sql_files() -> list[tuple[str, str]]:
    folder = files("supabase_local").joinpath("sql")
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name, folder.joinpath(name).read_text(encoding="utf-8")) for name in names]


def _provided_by_extension(conn: psycopg.Connection, text: str) -> bool:
    """True when ``text`` stands in for an extension this server has, so the real one is used (and created,
    when the file names its schema)."""
    match = UNLESS_EXTENSION.match(text)
    if match is None:
        return False
    extension, schema = match.groups()
    found = conn.execute("select 1 from pg_available_extensions where name = %s", (extension,)).fetchone()
    if found is not None and schema is not None:
        conn.execute(sql.SQL("create extension if not exists {} with schema {}").format(
            sql.Identifier(extension), sql.Identifier(schema)))
    return found is not None


EXTENSION_PROVIDER = """
select coalesce((select 'extension ' || e.extversion from pg_extension e where e.extname = %(extension)s),
                (select 'stand-in (' || p.name || ')' from extensions.supabase_local_platform p
                 where p.name = %(file)s),
                'missing')
"""


def extension_providers(conninfo: str) -> list[tuple[str, str]]:
    """Each extension the platform files stand in for, and what provides it in ``conninfo``'s database: the real
    extension (with its version), the stack's stand-in (the file), or nothing."""
    providers = []
    with psycopg.connect(conninfo) as conn:
        for name, text in _platform_sql_files():
            match = UNLESS_EXTENSION.match(text)
            if match is None:
                continue
            row = conn.execute(EXTENSION_PROVIDER, {"extension": match.group(1), "file": name}).fetchone()
            providers.append((match.group(1), row[0]))
    return providers


def install_pgmq(conn: psycopg.Connection) -> bool:
    """Install the PGMQ SQL bundled in the ``pgmq`` wheel unless it is there; True when it installed it."""
    if conn.execute("select to_regtype('pgmq.message_record') is not null").fetchone()[0]:
        return False
    with conn.transaction():
        conn.execute(get_embedded_install_sql())
    return True


LEDGER = """
create schema if not exists extensions;
create table if not exists extensions.supabase_local_platform (
  name text primary key,
  checksum text not null,
  applied_at timestamptz not null default now()
);
revoke all on extensions.supabase_local_platform from public;
"""


def _apply_once(conn: psycopg.Connection, name: str, text: str) -> bool:
    """Apply one platform file unless this exact version was applied before; True when it ran."""
    checksum = hashlib.sha256(text.encode()).hexdigest()
    with conn.transaction():
        done = conn.execute("select checksum from extensions.supabase_local_platform where name = %s",
                            (name,)).fetchone()
        if done is not None and done[0] == checksum:
            return False
        conn.execute(text)
        conn.execute("""insert into extensions.supabase_local_platform (name, checksum) values (%s, %s)
                        on conflict (name) do update set checksum = excluded.checksum, applied_at = now()""",
                     (name, checksum))
    return True


def bootstrap(state: StackState, conninfo: str | None = None) -> None:
    """Apply roles, schemas, PGMQ and the platform SQL to the stack's database (or ``conninfo``'s, which
    must connect as the superuser)."""
    surface = state.pgmq_surface or pgmq_surface.DEFAULT
    with psycopg.connect(conninfo or state.admin_url, autocommit=True) as conn:
        conn.execute(LEDGER)
        scripts = _platform_sql_files()
        applied = [name for name, text in scripts if name in BEFORE_PGMQ and _apply_once(conn, name, text)]
        for role, password in (("authenticator", state.authenticator_password), ("postgres", state.db_password)):
            conn.execute(sql.SQL("alter role {} with login password {}").format(
                sql.Identifier(role), sql.Literal(password)))
        installed = install_pgmq(conn)
        applied += [name for name, text in pgmq_surface.scripts(surface) if _apply_once(conn, name, text)]
        applied += [name for name, text in scripts
                    if name not in BEFORE_PGMQ and not _provided_by_extension(conn, text)
                    and _apply_once(conn, name, text)]
    log.info("bootstrap.done", pgmq_installed_now=installed, pgmq_surface=surface, applied=applied)
