"""``python -m supabase_local start | stop | status [-o env]``, shaped like the Supabase CLI."""

from __future__ import annotations

import argparse
import sys

from supabase_local import bootstrap, lifecycle
from supabase_local.logs import configure_logging
from supabase_local.postgres import PostgresError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m supabase_local",
        description="An embedded Supabase-compatible stack (PostgreSQL, PGMQ, pg_net, pg_cron, REST, Realtime).")
    parser.add_argument("--dir", help="state directory (default: $SUPABASE_LOCAL_DIR or ./.supabase_local)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("start", help="start the stack (or report the running one)")
    commands.add_parser("stop", help="stop what start started")
    status = commands.add_parser("status", help="show the running stack")
    status.add_argument("-o", "--output", choices=["pretty", "env", "json"], default="pretty")
    return parser


def _print_status(report: lifecycle.Status, output: str) -> int:
    state = report.state
    if not report.running or state is None:
        reasons = []
        if state is None:
            reasons.append("it was never started here")
        else:
            if not report.postgres_running:
                reasons.append("PostgreSQL is not running")
            if not report.services_running:
                reasons.append("the gateway process is not running")
            elif report.health and report.health.get("status") != "ok":
                reasons.append(f"unhealthy services: {report.health.get('services')}")
        print(f"supabase_local is not running: {'; '.join(reasons)}. Run `python -m supabase_local start`.",
              file=sys.stderr)
        return 1
    env = state.env()
    if output == "env":
        for key, value in env.items():
            print(f"{key}={value}")
    elif output == "json":
        import json

        print(json.dumps(env, indent=2))
    else:
        print("supabase_local is running.\n")
        width = max(len(key) for key in env)
        for key, value in env.items():
            print(f"{key.rjust(width)}: {value}")
        print(f"{'state dir'.rjust(width)}: {state.root}")
        print("\nextensions:")
        for extension, provider in bootstrap.extension_providers(state.admin_url):
            print(f"{extension.rjust(width)}: {provider}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging("WARNING", "console")
    try:
        if args.command == "start":
            lifecycle.start(args.dir)
            return _print_status(lifecycle.status(args.dir), "pretty")
        if args.command == "stop":
            stopped = lifecycle.stop(args.dir)
            print("supabase_local stopped." if stopped else "supabase_local was not running.")
            return 0
        return _print_status(lifecycle.status(args.dir), args.output)
    except (lifecycle.StackError, PostgresError) as err:
        print(f"supabase_local {args.command} failed: {err}", file=sys.stderr)
        return 1
