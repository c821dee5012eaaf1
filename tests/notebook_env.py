"""What the notebook tests share: where notebook 02 is and the environment a kernel needs to reach the session stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jobqueue.worker_process import load_worker, stop_worker
from supabase_local.state import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = PROJECT_ROOT / "notebooks" / "02_submit_and_watch.ipynb"
FAIL_PATTERN = "^fail-"
FAST_JOBS = {"JOB_MIN_SECONDS": "0.05", "JOB_MAX_SECONDS": "0.2", "MAX_ATTEMPTS": "3",
             "WORKER_RETRY_BASE_SECONDS": "0.1", "WORKER_RETRY_MAX_SECONDS": "0.5", "JOB_FAIL_PATTERN": FAIL_PATTERN}


def notebook_env(stack_dir: Path) -> dict[str, str]:
    """The test process's environment pointed at the session stack, with tiny job delays and retry waits, and a
    worker port of its own (so a worker started elsewhere on this machine is never reused or stopped)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SUPABASE_", "WORKER_"))}
    return {**env, **FAST_JOBS, "SUPABASE_LOCAL_DIR": str(stack_dir), "PYTHONUNBUFFERED": "1",
            "WORKER_URL": f"http://127.0.0.1:{free_port()}/hooks/work-queue"}


def stop_notebook_worker(stack_dir: Path) -> None:
    """Stop the worker a notebook run started for the session stack, so no process outlives the tests."""
    worker = load_worker(stack_dir)
    if worker is not None:
        stop_worker(worker)


def nbval_lax(notebook: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``pytest --nbval-lax`` on the stored ``notebook`` in a process of its own, with ``env``."""
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                           "-o", "addopts=", str(notebook.relative_to(PROJECT_ROOT))],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
