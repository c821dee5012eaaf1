"""Notebook 02 run headless, as ``make demo`` and CI run it: papermill with parameters, then nbval.

Jobs take 1-2 s here (not the suite's usual tiny delays) so that a report is still running when the notebook
cancels it or kills its worker, and its progress bar has time to move.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psycopg
import pytest

from supabase_local.state import StackState
from tests.notebook_env import NOTEBOOK, nbval_lax, notebook_env, stop_notebook_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BURST = 6
CONCURRENCY = 2
JOBS_OTHER_THAN_THE_BURST = 18  # the idempotent resubmit counts once: same key, one job
STEADY_JOBS = {"JOB_MIN_SECONDS": "1", "JOB_MAX_SECONDS": "2"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _env(stack_dir: Path) -> dict[str, str]:
    return {**notebook_env(stack_dir), **STEADY_JOBS}


def _cell_text(cell: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def _tagged(notebook: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    [cell] = [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
    return cell


def _snapshots(cell: nbformat.NotebookNode) -> dict[str, tuple[str, str]]:
    """The snapshots a cell displayed, by step: (html, text)."""
    found = {}
    for out in cell.get("outputs", []):
        html = out.get("data", {}).get("text/html", "")
        step = re.search(r'class="jq-snapshot" data-step="([^"]+)"', html)
        if step:
            found[step.group(1)] = (html, out["data"].get("text/plain", ""))
    return found


def _row(html: str, name: str) -> str:
    """The HTML of the row of job ``name`` in a snapshot."""
    rows = re.findall(r'<div class="jq-row".*?</div></div>', html)
    [row] = [row for row in rows if f">{name}</div>" in row]
    return row


@pytest.fixture(scope="module")
def executed(stack_dir: Path, stack: StackState, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[nbformat.NotebookNode, str]]:
    """Notebook 02 executed by papermill against the session stack, and the database time it started at."""
    with psycopg.connect(stack.db_url) as conn:
        started = conn.execute("select now()::text").fetchone()[0]
    output = tmp_path_factory.mktemp("papermill") / NOTEBOOK.name
    command = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(output), "-k", "python3",
               "--cwd", str(NOTEBOOK.parent), "-p", "burst_size", str(BURST), "-p", "headless", "True",
               "-p", "worker_concurrency", str(CONCURRENCY), "-p", "job_timeout", "120"]
    try:
        run = subprocess.run(command, env=_env(stack_dir), capture_output=True, text=True, timeout=600,
                             check=False)
        assert run.returncode == 0, f"papermill failed:\n{run.stderr[-4000:]}"
        yield nbformat.read(output, as_version=4), started
    finally:
        stop_notebook_worker(stack_dir)


def test_no_cell_raised(executed):
    notebook, _ = executed
    errors = [out for cell in notebook.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert errors == []


def test_final_table_shows_every_job_of_the_run(executed):
    notebook, _ = executed
    text = _cell_text(_tagged(notebook, "final-table"))
    assert text.startswith("Final job table")
    header, _, *rows = text.splitlines()[1:]
    name_at, status_at = header.index("Name"), header.index("Status")
    statuses = {row[name_at:].split()[0]: row[status_at:].split()[0] for row in rows if row.strip()}
    assert statuses["fail-on-purpose"] == "Failed"
    assert statuses["report-to-cancel"] == "Cancelled"
    assert statuses["while-the-worker-is-down"] == statuses["crash-mid-report"] == "Completed"
    assert all(statuses[f"burst-{n:02d}"] == "Completed" for n in range(BURST))
    assert len(statuses) == BURST + JOBS_OTHER_THAN_THE_BURST


def test_the_dashboard_is_displayed_once(executed):
    notebook, _ = executed
    with_widgets = [cell for cell in notebook.cells
                    if any(WIDGET_VIEW in out.get("data", {}) for out in cell.get("outputs", []))]
    assert with_widgets == [_tagged(notebook, "dashboard"), _tagged(notebook, "second-user")]


def test_a_second_user_sees_none_of_the_first_users_jobs(executed):
    notebook, _ = executed
    text = _cell_text(_tagged(notebook, "second-user"))
    assert re.search(r"the first user's table: [1-9]\d* jobs, of the second user's: 0", text), text
    assert re.search(r"the second user's table: 1 jobs, of the first user's: 0", text), text
    assert re.search(r"reads the first user's [1-9]\d* jobs over REST: 0 rows", text), text
    assert re.search(r"joins jobs:[0-9a-f-]{36}: CHANNEL_ERROR", text), text
    assert "second-users-job" in text


def test_each_step_keeps_a_snapshot_of_its_result(executed):
    notebook, _ = executed
    one = _snapshots(_tagged(notebook, "step-one-job"))["one-job"][0]
    assert "jq-status-completed" in _row(one, "hello-queue")
    burst = _snapshots(_tagged(notebook, "step-burst"))
    assert "jq-status-pending" in burst["burst-submitted"][0], "a saturated worker leaves jobs pending"
    assert burst["burst"][0].count("jq-status-completed") == BURST
    delay = _snapshots(_tagged(notebook, "step-delay"))
    assert "starts in" in _row(delay["delay-submitted"][0], "delayed-report")
    assert "jq-status-completed" in _row(delay["delay"][0], "delayed-report")
    cancel = _snapshots(_tagged(notebook, "step-cancel"))["cancel"][0]
    assert "jq-status-cancelled" in _row(cancel, "report-to-cancel")
    idempotent = _snapshots(_tagged(notebook, "step-idempotency"))["idempotency"][1]
    assert "the same job; nothing new was queued" in idempotent


def test_the_claims_are_tried_resync_backoff_and_timeout(executed):
    notebook, _ = executed
    resync = _snapshots(_tagged(notebook, "step-resync"))["resync"]
    assert "jq-status-completed" in _row(resync[0], "after-the-reconnect")
    assert re.search(r"channel: SUBSCRIBED \(0\.00 s\)( → \S+ \([\d.]+ s\))* → SUBSCRIBED", resync[1]), resync[1]
    assert re.search(r"REST re-reads after the rejoin: [1-9]", resync[1]), resync[1]
    backoff = _cell_text(_tagged(notebook, "step-backoff")).splitlines()
    retries = [line for line in backoff if line.startswith("attempt ")]
    assert [line.split()[1] for line in retries] == ["2", "3"], backoff
    timeout = _snapshots(_tagged(notebook, "step-timeout"))["timeout"]
    assert "jq-status-failed" in _row(timeout[0], "too-slow") and "timed out after 1 s" in timeout[1]


def test_the_progress_bar_moved(executed):
    notebook, _ = executed
    text = _snapshots(_tagged(notebook, "step-progress"))["progress"][1]
    seen = re.search(r"progress seen live while processing: (.*);", text).group(1)
    assert len(set(seen.split(" → "))) >= 2, seen


def test_the_crashed_workers_job_counts_down_its_lease_then_both_jobs_come_back(executed):
    notebook, _ = executed
    crash = _snapshots(_tagged(notebook, "step-crash"))["crash"][0]
    orphan = _row(crash, "crash-mid-report")
    assert "Orphaned" in orphan and re.search(r"lease (expires in \d+ s|ran out)", orphan)
    assert "jq-status-pending" in _row(crash, "while-the-worker-is-down")
    back = _snapshots(_tagged(notebook, "step-recovery"))["recovery"][1]
    assert re.search(r"while-the-worker-is-down: attempt 1 came by (a webhook: the sweeper|the worker's pull)", back)
    assert re.search(r"crash-mid-report: attempt 2 came by", back)


def test_the_database_agrees(executed, stack: StackState):
    _, started = executed
    with psycopg.connect(stack.db_url) as conn:
        owners = dict(conn.execute("select task_name, user_id from public.job_results "
                                   "where created_at >= %s::timestamptz", (started,)).fetchall())
        jobs = conn.execute("select task_name, status, priority, started_at, run_after, cancelled_at "
                            "from public.job_results where created_at >= %s::timestamptz "
                            "and task_name <> 'second-users-job' order by started_at", (started,)).fetchall()
        dead = conn.execute("select count(*) from pgmq.q_work_queue_dlq where message->>'task_name' = %s "
                            "and enqueued_at >= %s::timestamptz", ("fail-on-purpose", started)).fetchone()[0]
    assert len(jobs) == BURST + JOBS_OTHER_THAN_THE_BURST
    # Every job of the walk-through is the signed-in visitor's; the second user's job is theirs alone.
    first_user = {owners[name] for name, *_ in jobs}
    assert len(first_user) == 1 and None not in first_user
    assert owners["second-users-job"] not in first_user | {None}
    assert {name: status for name, status, *_ in jobs if status != "completed"} == {
        "fail-on-purpose": "failed", "report-to-cancel": "cancelled", "too-slow": "failed"}
    assert dead == 1
    by_name = {name: (started_at, run_after, cancelled_at) for name, _, _, started_at, run_after, cancelled_at in jobs}
    assert by_name["delayed-report"][0] >= by_name["delayed-report"][1]
    assert by_name["report-to-cancel"][0] is not None and by_name["report-to-cancel"][2] is not None
    order = [name for name, *_ in jobs if re.fullmatch(r"(low|high)-\d+", name)]
    assert {order.index("high-0"), order.index("high-1")} <= set(range(CONCURRENCY + 2)), order


def test_nbval_lax_runs_the_stored_notebook(stack_dir: Path, executed):
    run = nbval_lax(NOTEBOOK, _env(stack_dir))
    stop_notebook_worker(stack_dir)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
