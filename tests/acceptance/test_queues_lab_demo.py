"""``make demo`` shows its progress: which notebook of how many runs, and how many of its cells are done."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from jobqueue import demo


@pytest.mark.timeout(120)
def test_a_notebook_run_shows_its_cells_done_of_total(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capfd: pytest.CaptureFixture):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# tiny"),
                                               nbformat.v4.new_code_cell("x = 6"),
                                               nbformat.v4.new_code_cell("print(x * 7)")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    monkeypatch.setattr(demo, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(demo, "ARTIFACTS", tmp_path / "out")
    (tmp_path / "out").mkdir()
    nbformat.write(notebook, tmp_path / "tiny.ipynb")
    executed = demo.run_notebook("tiny.ipynb", {}, "notebook 3 of 3:")
    assert nbformat.read(executed, as_version=4).cells[2].outputs[0]["text"] == "42\n"
    assert "notebook 3 of 3: tiny.ipynb: cell 3 of 3 done" in capfd.readouterr().out


def test_the_demo_runs_the_three_notebooks_in_order():
    assert [name for name, _ in demo.RUNS] == ["01_setup.ipynb", "02_submit_and_watch.ipynb", "03_queues_lab.ipynb"]
    assert demo.RUNS[2][1]["headless"] is True
