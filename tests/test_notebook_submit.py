"""Notebook 02 run headless, as ``make demo`` and CI run it: papermill with parameters, then nbval."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psycopg
import pytest

from supabase_local.state import StackState
from tests.notebook_env import NOTEBOOK, PROJECT_ROOT, notebook_env, stop_notebook_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BURST = 6


def _cell_text(cell: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")


@pytest.fixture(scope="module")
def executed(stack_dir: Path, stack: StackState, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[nbformat.NotebookNode, str]]:
    """Notebook 02 executed by papermill against the session stack, and the database time it started at."""
    with psycopg.connect(stack.db_url) as conn:
        started = conn.execute("select now()::text").fetchone()[0]
    output = tmp_path_factory.mktemp("papermill") / NOTEBOOK.name
    command = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(output), "-k", "python3",
               "--cwd", str(NOTEBOOK.parent), "-p", "burst_size", str(BURST), "-p", "headless", "True",
               "-p", "job_timeout", "120"]
    try:
        run = subprocess.run(command, env=notebook_env(stack_dir), capture_output=True, text=True, timeout=600,
                             check=False)
        assert run.returncode == 0, f"papermill failed:\n{run.stderr[-4000:]}"
        yield nbformat.read(output, as_version=4), started
    finally:
        stop_notebook_worker(stack_dir)


def test_no_cell_raised(executed):
    notebook, _ = executed
    errors = [out for cell in notebook.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert errors == []


def test_final_table_shows_every_job_finished(executed):
    notebook, _ = executed
    [final] = [cell for cell in notebook.cells if "final-table" in cell.metadata.get("tags", [])]
    text = _cell_text(final)
    assert text.startswith("Final job table")
    rows = [line for line in text.splitlines()[3:] if line.strip()]
    statuses = {line.split()[1]: line.split()[2] for line in rows}
    assert statuses["fail-on-purpose"] == "Failed"
    assert statuses["while-the-worker-is-down"] == "Completed"
    assert all(statuses[f"burst-{n:02d}"] == "Completed" for n in range(BURST))


def test_database_agrees_and_the_failed_job_is_dead_lettered(executed, stack: StackState):
    _, started = executed
    with psycopg.connect(stack.db_url) as conn:
        jobs = conn.execute("select task_name, status from public.job_results where created_at >= %s::timestamptz",
                            (started,)).fetchall()
        dead = conn.execute("select count(*) from pgmq.q_work_queue_dlq where message->>'task_name' = %s "
                            "and enqueued_at >= %s::timestamptz", ("fail-on-purpose", started)).fetchone()[0]
    assert len(jobs) == BURST + 3
    assert {name: status for name, status in jobs if status != "completed"} == {"fail-on-purpose": "failed"}
    assert dead == 1


def test_nbval_lax_runs_the_stored_notebook(stack_dir: Path, executed):
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                          "-o", "addopts=", str(NOTEBOOK.relative_to(PROJECT_ROOT))],
                         cwd=PROJECT_ROOT, env=notebook_env(stack_dir), capture_output=True, text=True,
                         timeout=600, check=False)
    stop_notebook_worker(stack_dir)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
