"""Apply a project's ``supabase/migrations/*.sql`` and ``supabase/seed.sql`` as ``supabase start`` does.

The Supabase CLI records each applied file in ``supabase_migrations.schema_migrations`` (``version`` = the
file name's digits before the first ``_``, ``name`` = the rest, ``statements`` = the file cut by its splitter,
``supabase_local.sql_split``); the table and the insert here are the CLI's own (``pkg/migration/history.go``), so
``supabase migration up`` or ``db push`` later on the same database sees these files as applied. Each file runs
statement by statement in its own transaction; the seed runs once, on a database whose history was empty, as
``supabase db reset`` seeds a fresh one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import structlog

from supabase_local.sql_split import split

log = structlog.get_logger(__name__)

FILE_PATTERN = re.compile(r"^([0-9]+)_(.*)\.sql$")
HISTORY_TABLE = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
alter table supabase_migrations.schema_migrations add column if not exists statements text[];
alter table supabase_migrations.schema_migrations add column if not exists name text;
"""
APPLIED = "select version from supabase_migrations.schema_migrations"
RECORD = "insert into supabase_migrations.schema_migrations (version, name, statements) values (%s, %s, %s)"


class MigrationError(RuntimeError):
    """A migration or the seed failed; the message names the file and what the database said."""


@dataclass(frozen=True)
class MigrationFile:
    """One ``<version>_<name>.sql`` file."""

    version: str
    name: str
    path: Path

    @property
    def statements(self) -> list[str]:
        """The statements the CLI runs and records for this file."""
        return split(self.path.read_text(encoding="utf-8"))


@dataclass
class MigrationReport:
    """What ``apply_project`` did."""

    applied: list[str] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)
    seeded: bool = False


def migration_files(project_root: Path) -> list[MigrationFile]:
    """The project's migrations in version order; a file not named ``<digits>_<name>.sql`` is refused."""
    directory = project_root / "supabase" / "migrations"
    files = []
    for path in sorted(directory.glob("*.sql")) if directory.is_dir() else []:
        match = FILE_PATTERN.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: a migration's name must be <digits>_<name>.sql, as the Supabase CLI "
                                 "writes it (supabase migration new <name>)")
        files.append(MigrationFile(match.group(1), match.group(2), path))
    return sorted(files, key=lambda item: item.version)


def _run(conn: psycopg.Connection, label: str, statements: list[str],
         record: MigrationFile | None = None) -> None:
    try:
        with conn.transaction():
            for statement in statements:
                conn.execute(statement.encode(), prepare=False)
            if record is not None:
                conn.execute(RECORD, (record.version, record.name, statements))
    except psycopg.Error as err:
        diag = err.diag
        hint = f" ({diag.message_hint})" if diag.message_hint else ""
        raise MigrationError(f"{label} failed: {diag.message_primary or err}{hint}") from err


def apply_project(db_url: str, project_root: Path) -> MigrationReport:
    """Apply the pending migrations of ``project_root``, then its seed if the history was empty before."""
    report = MigrationReport()
    files = migration_files(project_root)
    seed = project_root / "supabase" / "seed.sql"
    if not files and not seed.is_file():
        return report
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(HISTORY_TABLE.encode())
        applied = {row[0] for row in conn.execute(APPLIED)}
        fresh = not applied
        for migration in files:
            if migration.version in applied:
                report.already_applied.append(migration.path.name)
                continue
            _run(conn, f"migration {migration.path.name}", migration.statements, record=migration)
            report.applied.append(migration.path.name)
            log.info("migration.applied", file=migration.path.name)
        if fresh and seed.is_file():
            _run(conn, "supabase/seed.sql", split(seed.read_text(encoding="utf-8")))
            report.seeded = True
    return report
