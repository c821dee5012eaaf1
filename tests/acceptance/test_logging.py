"""One logging set-up: every entry point writes the same fields in the format LOG_FORMAT chooses, and importing
``jobqueue`` configures nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobqueue.worker_process import start_worker, stop_worker, worker_env
from supabase_local.state import free_port
from tests.acceptance.test_worker_process import offline_settings
from tests.log_lines import event_lines

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"timestamp", "level", "event", "logger"}


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL", "LOG_FORMAT")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True,
                          text=True, timeout=60, check=False)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_importing_jobqueue_configures_nothing():
    run = python("import logging, structlog, jobqueue\nprint(structlog.is_configured(), logging.getLogger().handlers)")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "[]"]


NOTEBOOK_CELL = """
import logging, structlog, jobqueue
jobqueue.configure_logging()
structlog.get_logger("jobqueue.cell").info("step.hidden")
structlog.get_logger("jobqueue.cell").warning("step.shown", job_id="j-1")
logging.getLogger("httpx").warning("library line")
"""


def test_the_notebook_set_up_shows_warnings_for_people():
    run = python(NOTEBOOK_CELL)
    assert run.returncode == 0, run.stderr
    assert "step.hidden" not in run.stderr
    assert event_lines(run.stderr, "step.shown", job_id="j-1")
    assert "[jobqueue.cell]" in run.stderr and "[httpx]" in run.stderr


def test_the_notebook_set_up_follows_log_format_and_level():
    run = python(NOTEBOOK_CELL, LOG_FORMAT="json", LOG_LEVEL="info")
    assert run.returncode == 0, run.stderr
    lines = json_lines(run.stderr)
    assert [line["event"] for line in lines] == ["step.hidden", "step.shown", "library line"]
    assert all(line.keys() >= FIELDS for line in lines)
    assert (lines[1]["logger"], lines[1]["level"], lines[1]["job_id"]) == ("jobqueue.cell", "warning", "j-1")
    assert lines[2]["logger"] == "httpx"


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_python_m_worker_logs_in_the_chosen_format(tmp_path: Path, fmt: str):
    port = free_port()
    worker = start_worker(worker_env(offline_settings(port)) | {"LOG_FORMAT": fmt}, port=port, state_dir=tmp_path)
    assert stop_worker(worker)
    log = Path(worker.log_path).read_text()
    if fmt == "json":
        lines = json_lines(log)
        assert lines and len(lines) == len(log.splitlines())
        assert all(FIELDS | {"pid"} <= line.keys() for line in lines)
        stopped = [line for line in lines if line["event"] == "worker.stopped"]
        assert stopped and stopped[0]["pid"] == worker.pid and stopped[0]["logger"] == "worker.app"
    else:
        assert not json_lines(log)
        assert event_lines(log, "worker.stopped", pid=worker.pid)


def test_a_bad_log_setting_is_one_line(tmp_path: Path):
    for module in ("worker", "jobqueue.worker_process"):
        args = [] if module == "worker" else ["status"]
        run = subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "LOG_FORMAT": "xml", "PYTHONPATH": str(ROOT)}, timeout=60, check=False)
        assert run.returncode == 2
        assert run.stderr.strip().endswith(f"{module}: LOG_FORMAT must be one of console, json, got 'xml'")
        assert len(run.stderr.strip().splitlines()) == 1


def test_the_stack_services_log_json_lines_with_the_same_fields(stack_dir: Path):
    """``python -m supabase_local.services`` runs detached: its log is for machines."""
    lines = json_lines((stack_dir / "logs" / "services.log").read_text(errors="replace"))
    assert any(line["event"] == "gateway.listening" for line in lines)
    assert all(line.keys() >= FIELDS for line in lines)


def test_the_stack_cli_reads_the_same_variables(tmp_path: Path):
    run = subprocess.run([sys.executable, "-m", "supabase_local", "--dir", str(tmp_path), "status"], cwd=ROOT,
                         env={**os.environ, "LOG_FORMAT": "xml"}, capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 1
    assert run.stderr.strip() == "LOG_FORMAT must be one of console, json, got 'xml'"
