"""Notebook 01 run headless against the session stack: papermill with parameters, then nbval on the stored copy.

The notebook starts a worker on the provisioned ``WORKER_URL``; each test stops it again, so no later test
finds a worker where the session expects nobody to listen.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from jobqueue.settings import Settings
from supabase_local.state import STATE_DIR_ENV
from tests.notebook_env import stop_notebook_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = PROJECT_ROOT / "notebooks" / "01_setup.ipynb"


def kernel_env(stack_dir: Path, settings: Settings) -> dict[str, str]:
    """This process's environment pointed at the session stack, keeping the provisioned worker URL and limit
    (short job delays: the worker it starts may pick up jobs other tests left queued)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SUPABASE_", "WORKER_"))}
    return {**env, STATE_DIR_ENV: str(stack_dir), "WORKER_URL": settings.worker_url,
            "MAX_ATTEMPTS": str(settings.max_attempts), "JOB_MIN_SECONDS": "0.05", "JOB_MAX_SECONDS": "0.2",
            "PYTHONUNBUFFERED": "1"}


def output_text(notebook: nbformat.NotebookNode) -> str:
    """Everything the code cells printed or displayed, as plain text."""
    parts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            parts.append(out.get("text", "") if out.get("output_type") == "stream"
                         else out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.fixture
def stops_its_worker(stack_dir: Path) -> Iterator[None]:
    yield
    stop_notebook_worker(stack_dir)


@pytest.mark.usefixtures("stops_its_worker")
def test_papermill_runs_every_step(provisioned: Settings, stack_dir: Path, tmp_path: Path):
    output = tmp_path / NOTEBOOK.name
    run = subprocess.run([sys.executable, "-m", "papermill", str(NOTEBOOK), str(output), "-k", "python3",
                          "--cwd", str(NOTEBOOK.parent), "-p", "scratch_queue", "notebook_check"],
                         env=kernel_env(stack_dir, provisioned), capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, f"papermill failed:\n{run.stderr[-4000:]}"
    notebook = nbformat.read(output, as_version=4)
    errors = [out for cell in notebook.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert errors == []
    text = output_text(notebook)
    assert "0 applied" in text
    for source in ("public.submit_job(task_name text", "jobqueue_private.deliver(msg_id bigint, message jsonb",
                   "public.mark_job_processing(job_id uuid", "create policy job_results_read"):
        assert source in text, f"the excerpt {source!r} is not shown"
    assert text.count("the stored body is identical to supabase/migrations/") == 4
    for expected in ("trigger work_queue_webhook is in place and enabled", "policy job_results_read_own is in place",
                     "policy job_topics_read_own is in place", "trigger job_results_broadcast is in place and enabled",
                     "work_queue_dlq", "work_queue_sweeper"):
        assert expected in text
    for verdict in (r"signed with WEBHOOK_SECRET +202", r"the same delivery again +401 .*\(replay\)",
                    r"signed with another key +401", r"body changed after signing +401", r"\] job\.skipped\s"):
        assert re.search(verdict, text), f"{verdict!r} not in the output"
    assert re.search(r"pgmq\.read\('notebook_check', vt => 2\) +nothing \(invisible\)", text)
    assert "msg 1, read_ct 2" in text
    assert re.search(r"POST /rest/v1/job_results \(anon key\) +401 +42501", text)
    assert re.search(r"POST /rest/v1/rpc/submit_job \(anon key\) +401 +42501 +submit_job needs a signed-in user", text)


@pytest.mark.usefixtures("stops_its_worker")
def test_nbval_lax_runs_the_stored_notebook(provisioned: Settings, stack_dir: Path):
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                          "-o", "addopts=", str(NOTEBOOK.relative_to(PROJECT_ROOT))],
                         cwd=PROJECT_ROOT, env=kernel_env(stack_dir, provisioned), capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_volatile_cells_are_tagged_not_commented():
    """Test markers stay out of the reader's way: cell tags, never ``# NBVAL_…`` lines in the code."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not [cell for cell in code if "NBVAL" in cell.source]
    assert any("nbval-ignore-output" in cell.metadata.get("tags", []) for cell in code)
