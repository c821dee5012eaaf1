"""Notebook 03 run headless, as ``make demo`` runs it: papermill with short parameters, then nbval on the stored
notebook with its defaults."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.notebook_env import PROJECT_ROOT, nbval_lax, notebook_env, stop_notebook_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

NOTEBOOK = PROJECT_ROOT / "notebooks" / "03_queues_lab.ipynb"
UNITS = 100


def _text(notebook: nbformat.NotebookNode, tag: str) -> str:
    [cell] = [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")


@pytest.fixture(scope="module")
def executed(stack_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[nbformat.NotebookNode]:
    output = tmp_path_factory.mktemp("papermill") / NOTEBOOK.name
    command = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(output), "-k", "python3",
               "--cwd", str(NOTEBOOK.parent), "-p", "headless", "True", "-p", "tick_schedule", "1 seconds",
               "-p", "producer_seconds", "3", "-p", "producer_rate", "10", "-p", "drain_units", str(UNITS),
               "-p", "chaos_seconds", "4", "-p", "chaos_rate", "10"]
    try:
        run = subprocess.run(command, env=notebook_env(stack_dir), capture_output=True, text=True, timeout=600,
                             check=False)
        assert run.returncode == 0, f"papermill failed:\n{run.stderr[-4000:]}"
        yield nbformat.read(output, as_version=4)
    finally:
        stop_notebook_worker(stack_dir)


def test_one_like_shows_three_messages(executed):
    text = _text(executed, "step-fanout")
    assert "'isLiked': True" in text
    for queue, what in (("like_events", "like"), ("notifications", "new_like"), ("analytics", "like")):
        assert any(line.split()[:1] == [queue] and what in line.split() for line in text.splitlines()), text


def test_the_producer_likes_and_the_consumers_drain(executed):
    text = _text(executed, "step-producer")
    sent = int(text.split()[0])
    assert sent > 0
    depths = {line.split()[0]: int(line.split()[2].replace(",", "")) for line in text.splitlines()
              if line.startswith(("like_events", "notifications", "analytics"))}
    assert {queue: depth for queue, depth in depths.items() if not queue.endswith("_dlq")} == {
        "like_events": 0, "notifications": 0, "analytics": 0}, text


def test_three_drains_are_measured_on_the_same_load(executed):
    lines = _text(executed, "step-drains").splitlines()
    drains = {line.split("  ")[0]: line for line in lines[2:]}
    assert set(drains) == {"webhook per job", "batch per cron tick (1 s)", "continuous consumer"}, lines
    assert all(f"  {UNITS}  " in line for line in drains.values()), lines


def test_chaos_kills_a_worker_and_loses_no_job(executed):
    text = _text(executed, "step-chaos")
    assert "workers killed: 1; jobs unaccounted for: 0" in text, text
    assert "in flight 0;" in text, text
    submitted = int(text.split("submitted ")[1].split()[0])
    assert submitted >= 20, text


def test_the_poison_message_is_dead_lettered_then_replayed(executed):
    text = _text(executed, "step-poison")
    assert "read more than 3 times" in text
    assert "replayed: 1" in text
    assert "the replayed event is in analytics_events: True" in text


def test_retention_trims_the_aged_archive(executed):
    text = _text(executed, "step-retention")
    assert any(line.split()[:2] == ["analytics", "5"] for line in text.splitlines()), text


def test_nbval_lax_runs_the_stored_notebook(stack_dir: Path, executed):
    run = nbval_lax(NOTEBOOK, notebook_env(stack_dir))
    stop_notebook_worker(stack_dir)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
