"""``python -m jobqueue provision`` as a person runs it from a shell: a report and exit 0, or the reason and 1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobqueue.provision import migrations
from supabase_local.state import STATE_DIR_ENV, free_port
from supabase_local.testing import new_database


def run_provision(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("SUPABASE_", "WORKER_URL"))}
    return subprocess.run([sys.executable, "-m", "jobqueue", "provision", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def fresh_env(stack, stack_dir: Path) -> Iterator[dict[str, str]]:
    """The session stack's settings, but a new database of its own and a worker URL where nothing listens."""
    with new_database(stack) as url:
        yield {STATE_DIR_ENV: str(stack_dir), "SUPABASE_DB_URL": url,
               "WORKER_URL": f"http://127.0.0.1:{free_port()}/hooks/work-queue"}


def test_provision_from_a_shell_applies_then_finds_nothing_to_do(fresh_env: dict[str, str]):
    first = run_provision(fresh_env)
    assert first.returncode == 0, first.stderr
    files = [m.file for m in migrations()]
    assert [line.split()[1] for line in first.stdout.splitlines() if line.startswith("applied ")] == files
    assert f"{len(files)} migration(s) applied, 0 already applied" in first.stdout
    assert "job types changed: echo, flaky, generate_report" in first.stdout
    second = run_provision(fresh_env)
    assert second.returncode == 0, second.stderr
    assert f"0 migration(s) applied, {len(files)} already applied" in second.stdout


def test_a_refusal_is_printed_plainly_with_a_non_zero_exit(fresh_env: dict[str, str], tmp_path: Path):
    (tmp_path / "20991231000000_broken.sql").write_text("select * from no_such_table;\n")
    failed = run_provision(fresh_env, "--migrations", str(tmp_path))
    assert failed.returncode == 1
    assert failed.stderr.startswith("provision failed: migration 20991231000000_broken.sql failed:")
    assert "no_such_table" in failed.stderr


def test_missing_settings_are_named(tmp_path: Path):
    failed = run_provision({STATE_DIR_ENV: str(tmp_path / "no_stack")})
    assert failed.returncode == 1
    assert "provision failed: missing settings" in failed.stderr
