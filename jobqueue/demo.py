"""``python -m jobqueue.demo`` (``make demo``): run the notebooks headless and print this run's job table.

It starts (or reuses) the embedded stack, executes ``01_setup``, ``02_submit_and_watch`` and ``03_queues_lab``
with papermill (short job delays and lab steps), showing which notebook runs and how many of its cells are done,
saves the executed copies in ``artifacts/``, stops the worker the notebooks started, and prints the jobs created
since the run began (earlier runs' jobs stay in the table but not in the report).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import papermill
from traitlets.config import Config

from jobqueue import introspect
from jobqueue.logs import configure_logging
from jobqueue.settings import PROJECT_ROOT
from jobqueue.stack import ensure_stack
from jobqueue.steps.walkthrough import stop_recorded_worker

NOTEBOOKS = PROJECT_ROOT / "notebooks"
ARTIFACTS = PROJECT_ROOT / "artifacts"
RUNS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("01_setup.ipynb", {}),
    ("02_submit_and_watch.ipynb", {"job_min_seconds": 0.5, "job_max_seconds": 2.0, "max_attempts": 3,
                                   "headless": True}),
    ("03_queues_lab.ipynb", {"tick_schedule": "1 seconds", "producer_seconds": 3.0, "producer_rate": 10,
                             "drain_units": 100, "chaos_seconds": 4.0, "chaos_rate": 10, "headless": True}),
)
# The kernel's channels carry code and outputs; with CurveZMQ keys provisioned by the kernel manager they are
# encrypted (the kernelspec that `make setup` installs declares support), so the kernel has nothing to warn about.
# Jobs that notebook 03 submits by the hundred to measure drains and to stress workers: counted, not listed.
LAB_JOB_PREFIXES = ("drain-", "chaos-")
KERNEL_CONFIG = Config({"KernelManager": {"transport_encryption": "auto"}})


def run_notebook(name: str, parameters: dict[str, Any], position: str = "") -> Path:
    """Execute ``notebooks/<name>`` with ``parameters``, showing its cells done of total on stdout; the executed
    copy goes to ``artifacts/``."""
    source, target = NOTEBOOKS / name, ARTIFACTS / name
    progress = {"desc": f"{position} {name}".strip(), "file": sys.stdout, "ascii": True,
                "bar_format": "{desc}: cell {n_fmt} of {total_fmt} done, {elapsed}"}
    papermill.execute_notebook(str(source), str(target), parameters=parameters, kernel_name="python3",
                               cwd=str(NOTEBOOKS), progress_bar=progress, config=KERNEL_CONFIG)
    return target


def main() -> int:
    """Run the demo; the exit code is non-zero when a notebook fails (the executed copy shows where)."""
    configure_logging()
    settings = ensure_stack()
    began = introspect.database_now(settings)
    ARTIFACTS.mkdir(exist_ok=True)
    executed: list[Path] = []
    try:
        for number, (name, parameters) in enumerate(RUNS, start=1):
            executed.append(run_notebook(name, parameters, f"notebook {number} of {len(RUNS)}:"))
    except papermill.PapermillExecutionError as err:
        print(f"demo failed in {name}: {err.ename}: {err.evalue}\n"
              f"see the executed notebook in {ARTIFACTS}", file=sys.stderr)
        return 1
    finally:
        stop_recorded_worker(settings)
    jobs = introspect.jobs_since(settings, began)
    measured = [row for row in jobs if row["job"].startswith(LAB_JOB_PREFIXES)]
    print("Jobs of this run (notebook 02)")
    print(introspect.text_table([row for row in jobs if not row["job"].startswith(LAB_JOB_PREFIXES)]))
    print(f"and {len(measured)} jobs of notebook 03's drains and chaos steps, "
          f"{sum(row['status'] == 'completed' for row in measured)} completed")
    print(f"executed notebooks: {', '.join(str(path) for path in executed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
