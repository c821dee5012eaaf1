"""What ``make demo`` prints: only the jobs of its own run, and no warning from the kernel it starts."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import psycopg
import pytest

from jobqueue import introspect
from jobqueue.demo import KERNEL_CONFIG
from jobqueue.settings import Settings


def submit(settings: Settings, name: str) -> None:
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        conn.execute("select public.submit_job(%(name)s)", {"name": name})


def test_the_report_holds_only_jobs_created_since_the_run_began(provisioned: Settings):
    submit(provisioned, "demo-earlier-run")
    began = introspect.database_now(provisioned)
    submit(provisioned, "demo-this-run")
    names = [row["job"] for row in introspect.jobs_since(provisioned, began)]
    assert "demo-this-run" in names
    assert "demo-earlier-run" not in names


@pytest.mark.timeout(120)
def test_the_demo_kernel_runs_encrypted_without_the_plain_tcp_warning(tmp_path: Path, capfd: pytest.CaptureFixture):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, source)
    executed = papermill.execute_notebook(str(source), str(tmp_path / "out.ipynb"), kernel_name="python3",
                                          progress_bar=False, config=KERNEL_CONFIG)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
    assert "without encryption" not in capfd.readouterr().err
