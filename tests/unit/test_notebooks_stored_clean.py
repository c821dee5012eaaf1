"""The notebooks as committed: no outputs (diffs stay readable) and one papermill ``parameters`` cell each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_stored_without_outputs(notebook: Path):
    verified = subprocess.run([sys.executable, "-m", "nbstripout", "--verify", str(notebook)],
                              capture_output=True, text=True, check=False)
    assert verified.returncode == 0, f"{notebook.name} has outputs; run nbstripout on it\n{verified.stdout}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_one_parameters_cell_before_any_other_code(notebook: Path):
    cells = json.loads(notebook.read_text())["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    tagged = [cell for cell in code if "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    assert code[0] is tagged[0], "papermill injects its values after the parameters cell: it must come first"


def test_the_notebooks_exist():
    assert [path.name for path in NOTEBOOKS] == ["01_setup.ipynb", "02_submit_and_watch.ipynb", "03_queues_lab.ipynb"]
