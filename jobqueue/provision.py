"""Apply ``sql/`` to a database and write the settings the SQL reads (worker URL, webhook secret, attempts).

Every run also takes back the platform grants (pg_net, pgmq, pg_cron) from the API roles, since a platform
may grant them anew (the embedded stack does on each start, as Supabase does when an extension is enabled).

Each file runs in its own transaction and is recorded with its checksum; a file already applied with the
same checksum is skipped, a changed one is applied again (every file is idempotent). A failure names the
file and the database's message, and leaves the earlier files applied.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import structlog
from psycopg.types.json import Jsonb

from jobqueue import queries
from jobqueue.settings import PROJECT_ROOT, Settings, webhook_key
from worker.tasks import default_registry

log = structlog.get_logger(__name__)

SQL_DIR = PROJECT_ROOT / "sql"


class ProvisionError(RuntimeError):
    """A migration failed; the message names the file and what the database said."""


@dataclass(frozen=True)
class Migration:
    """One ``sql/`` file: its name (which orders it), its text and the checksum of that text."""

    name: str
    text: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the text: a changed file is applied again."""
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass
class ProvisionReport:
    """What one ``provision()`` run did, for the notebook to show."""

    applied: list[str] = field(default_factory=list)
    reapplied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    settings_changed: list[str] = field(default_factory=list)
    job_types_changed: list[str] = field(default_factory=list)
    api_access_left: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line a person can read."""
        parts = [f"{len(self.applied)} applied", f"{len(self.reapplied)} re-applied (changed)",
                 f"{len(self.unchanged)} unchanged", f"settings changed: {', '.join(self.settings_changed) or 'none'}",
                 f"job types changed: {', '.join(self.job_types_changed) or 'none'}",
                 f"API roles still reach: {'; '.join(self.api_access_left) or 'nothing on the platform schemas'}"]
        return "; ".join(parts)


def migrations(directory: Path = SQL_DIR) -> list[Migration]:
    """The migration files in the order they run (by file name)."""
    files = sorted(directory.glob("*.sql"))
    if not files:
        raise ProvisionError(f"no migrations found in {directory}")
    return [Migration(path.name, path.read_text(encoding="utf-8")) for path in files]


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    try:
        with conn.transaction():
            conn.execute(migration.text.encode())
            conn.execute(queries.RECORD_MIGRATION, {"filename": migration.name, "checksum": migration.checksum})
    except psycopg.Error as err:
        diag = err.diag
        detail = diag.message_primary or str(err)
        hint = f" ({diag.message_hint})" if diag.message_hint else ""
        raise ProvisionError(f"migration {migration.name} failed: {detail}{hint}") from err


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


def provision(settings: Settings, directory: Path = SQL_DIR) -> ProvisionReport:
    """Bring the database to the schema in ``directory`` and store the webhook settings; safe to re-run."""
    report = ProvisionReport()
    wanted = migrations(directory)
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        conn.execute(queries.PROVISION_LOCK)
        try:
            conn.execute(queries.MIGRATIONS_TABLE.encode())
            done = dict(conn.execute(queries.APPLIED_MIGRATIONS).fetchall())
            for migration in wanted:
                if done.get(migration.name) == migration.checksum:
                    report.unchanged.append(migration.name)
                    continue
                _apply(conn, migration)
                (report.reapplied if migration.name in done else report.applied).append(migration.name)
                log.info("provision.applied", migration=migration.name)
            conn.execute(queries.REVOKE_PLATFORM_ACCESS)
            report.settings_changed = _write_settings(conn, settings)
            report.job_types_changed = _write_job_types(conn)
            report.api_access_left = _access_left(conn)
        finally:
            conn.execute(queries.PROVISION_UNLOCK)
    log.info("provision.done", applied=len(report.applied), reapplied=len(report.reapplied),
             unchanged=len(report.unchanged), settings_changed=report.settings_changed,
             job_types_changed=report.job_types_changed,
             api_access_left=report.api_access_left)
    return report
