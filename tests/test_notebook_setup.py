"""Notebook 01 run headless against the session stack: papermill with parameters, then nbval on the stored copy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jobqueue.settings import Settings
from supabase_local.state import STATE_DIR_ENV

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = PROJECT_ROOT / "notebooks" / "01_setup.ipynb"


def kernel_env(stack_dir: Path, settings: Settings) -> dict[str, str]:
    """This process's environment pointed at the session stack, keeping the provisioned worker URL and limit."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SUPABASE_", "WORKER_"))}
    return {**env, STATE_DIR_ENV: str(stack_dir), "WORKER_URL": settings.worker_url,
            "MAX_ATTEMPTS": str(settings.max_attempts), "PYTHONUNBUFFERED": "1"}


def stream_text(notebook: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.get("output_type") == "stream")


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
    text = stream_text(notebook)
    for expected in ("work_queue_dlq", "work_queue_webhook", "work_queue_sweeper", "job_results_read",
                     "'queue': 'notebook_check'", "refused: 42501"):
        assert expected in text
    assert "0 applied" in text


def test_nbval_lax_runs_the_stored_notebook(provisioned: Settings, stack_dir: Path):
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                          "-o", "addopts=", str(NOTEBOOK.relative_to(PROJECT_ROOT))],
                         cwd=PROJECT_ROOT, env=kernel_env(stack_dir, provisioned), capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
