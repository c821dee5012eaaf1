"""``python -m jobqueue provision``: apply the migrations and write the settings from a shell, as notebook 01 does.

The settings resolve as everywhere else (environment, ``.env``, the running embedded stack). It prints what it
applied and what it changed, and exits non-zero with the reason when the settings, the database or a migration
refuse.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg

from jobqueue.logs import configure_logging
from jobqueue.provision import MIGRATIONS_DIR, ProvisionError, ProvisionReport, provision
from jobqueue.settings import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobqueue", description="test_queue from a shell.")
    commands = parser.add_subparsers(dest="command", required=True)
    provision_command = commands.add_parser(
        "provision", help="apply supabase/migrations/ and write the worker URL, webhook secret and job types")
    provision_command.add_argument("--migrations", type=Path, default=MIGRATIONS_DIR,
                                   help=f"the migrations folder (default: {MIGRATIONS_DIR})")
    return parser


def _print_report(report: ProvisionReport) -> None:
    for file in report.applied:
        print(f"applied  {file}")
    print(f"{len(report.applied)} migration(s) applied, {len(report.unchanged)} already applied")
    print(f"settings changed: {', '.join(report.settings_changed) or 'none'}")
    print(f"job types changed: {', '.join(report.job_types_changed) or 'none'}")
    for line in report.api_access_left:
        print(f"API roles still reach (granted by the platform): {line}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    try:
        report = provision(load_settings(), args.migrations)
    except (SettingsError, ProvisionError, psycopg.OperationalError) as err:
        print(f"provision failed: {err}", file=sys.stderr)
        return 1
    _print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
