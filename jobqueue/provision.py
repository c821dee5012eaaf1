"""Apply ``supabase/migrations/`` as the Supabase CLI does, and write the settings the SQL reads.

Each migration file not yet recorded in ``supabase_migrations.schema_migrations`` runs in its own transaction,
statement by statement as the CLI splits it, and is recorded there with the CLI's version, name and statements:
``supabase db push`` or ``supabase migration up`` on the same database then applies nothing twice. A recorded
file whose statements differ from the file's is refused: migrations are append-only, so a change is a new file.
A failure names the file and the database's message, and leaves the earlier files applied.

Every run also takes back the platform grants (pg_net, pgmq, pg_cron) from the API roles, since a platform
may grant them anew (the embedded stack does on each start, as Supabase does when an extension is enabled).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import structlog
from psycopg.types.json import Jsonb

from jobqueue import queries
from jobqueue.settings import PROJECT_ROOT, Settings, webhook_key
from supabase_local.sql_split import split
from worker.tasks import default_registry

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = PROJECT_ROOT / "supabase" / "migrations"
# The CLI's file name pattern (pkg/migration/file.go): a numeric version, an underscore, a name.
_FILE_NAME = re.compile(r"^([0-9]+)_(.*)\.sql$")


class ProvisionError(RuntimeError):
    """A migration failed or was changed after it was applied; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Migration:
    """One migration file: its version (the timestamp that orders it), its name and its statements."""

    file: str
    version: str
    name: str
    text: str

    @property
    def statements(self) -> list[str]:
        """The statements the CLI runs and records for this file."""
        return split(self.text)


@dataclass
class ProvisionReport:
    """What one ``provision()`` run did, for the notebook and the command line to show."""

    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    settings_changed: list[str] = field(default_factory=list)
    job_types_changed: list[str] = field(default_factory=list)
    api_access_left: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line a person can read."""
        parts = [f"migrations: {len(self.applied)} applied, {len(self.unchanged)} already applied",
                 f"settings changed: {', '.join(self.settings_changed) or 'none'}",
                 f"job types changed: {', '.join(self.job_types_changed) or 'none'}",
                 f"API roles still reach: {'; '.join(self.api_access_left) or 'nothing on the platform schemas'}"]
        return "; ".join(parts)


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in the order they run (by version), named as the CLI names them."""
    found = []
    for path in sorted(Path(directory).glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ProvisionError(f"{path.name} is not named <timestamp>_<name>.sql as the Supabase CLI expects")
        found.append(Migration(path.name, match.group(1), match.group(2), path.read_text(encoding="utf-8")))
    if not found:
        raise ProvisionError(f"no migrations found in {directory}")
    return found


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    statements = migration.statements
    try:
        conn.execute(queries.RESET_SESSION)
        with conn.transaction():
            for statement in statements:
                conn.execute(statement.encode(), prepare=False)
            conn.execute(queries.RECORD_MIGRATION, {"version": migration.version, "name": migration.name,
                                                    "statements": statements})
    except psycopg.Error as err:
        diag = err.diag
        detail = diag.message_primary or str(err)
        hint = f" ({diag.message_hint})" if diag.message_hint else ""
        raise ProvisionError(f"migration {migration.file} failed: {detail}{hint}") from err


def _check_unchanged(migration: Migration, recorded: list[str] | None) -> None:
    """Refuse a file that differs from what was applied under its version (the CLI would not notice)."""
    if recorded is not None and recorded != migration.statements:
        raise ProvisionError(
            f"migration {migration.file} was changed after it was applied to this database: applied migrations "
            "never change; undo the edit and add a new migration instead (supabase migration new <name>)")


def _migrate(conn: psycopg.Connection, wanted: list[Migration], report: ProvisionReport) -> None:
    for statement in queries.MIGRATION_HISTORY_TABLE:
        conn.execute(statement)
    done = {version: statements for version, _, statements in conn.execute(queries.APPLIED_MIGRATIONS)}
    for migration in wanted:
        if migration.version in done:
            _check_unchanged(migration, done[migration.version])
            report.unchanged.append(migration.file)
            continue
        _apply(conn, migration)
        report.applied.append(migration.file)
        log.info("provision.applied", migration=migration.file)


def _write_settings(conn: psycopg.Connection, settings: Settings) -> list[str]:
    """Write the tunables, and the webhook secret into Supabase Vault (never in plain text). A pull-only project
    has no ``worker_url`` row: the webhook trigger then sends nothing and pull workers claim the jobs."""
    webhook_key(settings.webhook_secret)
    values = {"worker_url": settings.worker_url, "max_attempts": str(settings.max_attempts)}
    changed = []
    with conn.transaction():
        for key, value in values.items():
            query = queries.DELETE_SETTING if value is None else queries.WRITE_SETTING
            if conn.execute(query, {"key": key, "value": value}).fetchone():
                changed.append(key)
        if conn.execute(queries.STORE_WEBHOOK_SECRET, {"secret": settings.webhook_secret}).fetchone()[0]:
            changed.append("webhook_secret")
    return changed


def _write_job_types(conn: psycopg.Connection) -> list[str]:
    """Write ``job_types`` from the worker's task registry: one row per task, its defaults and payload schema."""
    changed = []
    with conn.transaction():
        for row in default_registry().job_type_rows():
            values = {**row, "payload_schema": Jsonb(row["payload_schema"])}
            if conn.execute(queries.UPSERT_JOB_TYPE, values).fetchone():
                changed.append(row["name"])
    return changed


def _access_left(conn: psycopg.Connection) -> list[str]:
    """What anon and authenticated can still reach on the platform schemas (grants postgres cannot revoke)."""
    lines = []
    for role, schema, privilege, objects in conn.execute(queries.PLATFORM_ACCESS_LEFT).fetchall():
        what = f"usage on schema {schema}" if privilege == "usage" else \
            f"{privilege} on {len(objects)} in {schema} ({', '.join(objects[:3])}{', ...' if len(objects) > 3 else ''})"
        lines.append(f"{role}: {what}")
    return lines


def provision(settings: Settings, directory: Path = MIGRATIONS_DIR) -> ProvisionReport:
    """Bring the database to the migrations in ``directory`` and store the webhook settings; safe to re-run."""
    report = ProvisionReport()
    wanted = migrations(directory)
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        conn.execute(queries.PROVISION_LOCK)
        try:
            _migrate(conn, wanted, report)
            conn.execute(queries.REVOKE_PLATFORM_ACCESS)
            report.settings_changed = _write_settings(conn, settings)
            report.job_types_changed = _write_job_types(conn)
            report.api_access_left = _access_left(conn)
        finally:
            conn.execute(queries.PROVISION_UNLOCK)
    log.info("provision.done", applied=len(report.applied), unchanged=len(report.unchanged),
             settings_changed=report.settings_changed, job_types_changed=report.job_types_changed,
             api_access_left=report.api_access_left)
    return report
