"""``python -m jobqueue.demo`` (``make demo``): run both notebooks headless and print the final job table.

It starts (or reuses) the embedded stack, executes ``01_setup`` then ``02_submit_and_watch`` with papermill
(short job delays), saves the executed copies in ``artifacts/``, and stops the worker the notebook started.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nbformat
import papermill
import structlog

from jobqueue.settings import PROJECT_ROOT
from jobqueue.stack import ensure_stack
from jobqueue.widgets.walkthrough import stop_recorded_worker

log = structlog.get_logger(__name__)

NOTEBOOKS = PROJECT_ROOT / "notebooks"
ARTIFACTS = PROJECT_ROOT / "artifacts"
RUNS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("01_setup.ipynb", {}),
    ("02_submit_and_watch.ipynb", {"job_min_seconds": 0.5, "job_max_seconds": 2.0, "max_attempts": 3,
                                   "headless": True}),
)


def final_table(executed: Path) -> str:
    """The text printed by the notebook's cell tagged ``final-table``."""
    notebook = nbformat.read(executed, as_version=4)
    for cell in notebook.cells:
        if "final-table" in cell.metadata.get("tags", []):
            return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")
    raise LookupError(f"{executed.name} has no cell tagged final-table")


def main() -> int:
    """Run the demo; the exit code is non-zero when a notebook fails (the executed copy shows where)."""
    settings = ensure_stack()
    ARTIFACTS.mkdir(exist_ok=True)
    executed: list[Path] = []
    try:
        for name, parameters in RUNS:
            source, target = NOTEBOOKS / name, ARTIFACTS / name
            print(f"running {name} ...", flush=True)
            papermill.execute_notebook(str(source), str(target), parameters=parameters, kernel_name="python3",
                                       cwd=str(NOTEBOOKS), progress_bar=False)
            executed.append(target)
    except papermill.PapermillExecutionError as err:
        print(f"demo failed in {name}: {err.ename}: {err.evalue}\n"
              f"see the executed notebook in {ARTIFACTS}", file=sys.stderr)
        return 1
    finally:
        stop_recorded_worker(settings)
    print(final_table(executed[-1]))
    print(f"executed notebooks: {', '.join(str(path) for path in executed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
