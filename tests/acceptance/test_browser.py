"""A person's path through JupyterLab, in headless Chromium: open notebook 02 and run it; the live dashboard is
there once and each step's snapshot still shows its result; then pick ``generate_report`` in the form, submit,
and see the row's progress bar move and the row turn Completed without reloading the page. A click handled on a
kernel subshell (as JupyterLab with ipykernel 7 may deliver one) still reaches the live table; and at 1280 and
1600 px the dashboard fits: no horizontal scrolling, header and scrolled rows aligned, no wrapped names."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from supabase_local.state import free_port
from tests.kernel_subshell import LabKernel
from tests.notebook_env import NOTEBOOK, PROJECT_ROOT, notebook_env, stop_notebook_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = PROJECT_ROOT / "artifacts"
LAB_START_DEADLINE = 60.0
NOTEBOOK_RUN_MS = 300_000
ROW_COMPLETED_MS = 60_000
# Jobs long enough for a 10-section report to report progress several times (the worker sends ≤ 4 a second).
STEADY_JOBS = {"JOB_MIN_SECONDS": "1", "JOB_MAX_SECONDS": "2"}
# Runs in the page on every animation frame: notes the progress values the job's live row shows until it reads
# Completed, then returns them (so no value that lasted a few frames is missed).
WATCH_PROGRESS = """([name]) => {
  const row = [...document.querySelectorAll('.jq-live-table .jq-row')].find(r => r.textContent.includes(name));
  if (!row) return false;
  window.jqSeen = window.jqSeen || new Set();
  const status = row.querySelector('.jq-status').textContent;
  if (status === 'Completed') return [...window.jqSeen];
  window.jqSeen.add(row.querySelector('.jq-progress').dataset.progress);
  return false;
}"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium; without it the test skips, except under CI where it must exist."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no chromium is installed; .ci/run installs it with apt-get")
        pytest.skip("no chromium executable on PATH (apt-get install chromium); CI is not set")
    return path


def _wait_for_lab(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + LAB_START_DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"jupyter lab did not answer within {LAB_START_DEADLINE:.0f} s:\n{log.read_text()[-3000:]}")


LAB_SETTINGS = {
    # Start the notebook's own kernel without asking, as a returning user would have chosen.
    # Keep every cell in the DOM (no windowing), so locators never meet a detached output.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True,
                                                                    "windowingMode": "none"},
    # No news pop-up over the page.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


def _write_lab_settings(settings_dir: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        target = settings_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its base URL and token, and the address of notebook 02 in it."""

    base_url: str
    token: str

    @property
    def notebook_url(self) -> str:
        return f"{self.base_url}/lab/tree/notebooks/{NOTEBOOK.name}?token={self.token}"


@pytest.fixture(scope="module")
def lab(stack_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on a free loopback port, serving a copy of the notebooks (autosave never touches the repo)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(PROJECT_ROOT / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    token = secrets.token_hex(16)
    port = free_port()
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.token={token}",
               f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}",
               "--ServerApp.port_retries=0", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    settings_dir = root / "lab-settings"
    _write_lab_settings(settings_dir)
    env = {**notebook_env(stack_dir), **STEADY_JOBS, "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTERLAB_SETTINGS_DIR": str(settings_dir)}
    log = root / "lab.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for_lab(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log)
        yield Lab(f"http://127.0.0.1:{port}", token)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stop_notebook_worker(stack_dir)


WIDTHS = (1280, 1600)
RELAYOUT_MS = 10_000
# Measures the live dashboard as laid out now, after scrolling its rows to the bottom: whether anything is wider
# than its box (the columns than the row, a header label than its column), the x of each column in the header and
# in the last fully visible row, and which name or panel cell takes more than one line (a Range's client rects are
# one per line box).
MEASURE_LAYOUT = """() => {
  const dash = document.querySelector('.jq-dashboard');
  const rows = dash.querySelector('.jq-rows');
  const output = dash.closest('.jp-OutputArea-output');
  rows.scrollTop = rows.scrollHeight;
  const header = rows.querySelector('.jq-header');
  const box = rows.getBoundingClientRect();
  const below = header.getBoundingClientRect().bottom;
  const shown = [...rows.querySelectorAll('.jq-row')].filter(r => {
    const b = r.getBoundingClientRect(); return b.top >= below && b.bottom <= box.bottom; });
  const row = shown[shown.length - 1];
  const xs = el => [...el.children].map(c => Math.round(c.getBoundingClientRect().left));
  const lines = el => { const range = document.createRange(); range.selectNodeContents(el);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size; };
  const cells = [...rows.querySelectorAll('.jq-row > div:nth-child(3), .jq-row > div:nth-child(2)'),
                 ...dash.querySelectorAll('.jq-health td, .jq-health th')];
  return {rows: [rows.scrollWidth, rows.clientWidth], dashboard: [dash.scrollWidth, dash.clientWidth],
          columns: [header.scrollWidth, header.clientWidth],
          cut_labels: [...header.children].filter(c => c.scrollWidth > c.clientWidth).map(c => c.textContent),
          right: [Math.round(dash.getBoundingClientRect().right), Math.round(output.getBoundingClientRect().right)],
          scrolled: rows.scrollTop, header: xs(header), row: row ? xs(row) : [],
          wrapped: cells.filter(c => lines(c) > 1).map(c => c.textContent)};
}"""


@pytest.fixture(scope="module")
def notebook_page(chromium: str, lab: Lab) -> Iterator[Any]:
    """Notebook 02 open in JupyterLab (1600 px wide), after Run All has run every cell."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        try:
            page.goto(lab.notebook_url)
            # The kernel is connected once the status bar reads "<kernel> | Idle"; Run All before that does nothing.
            kernel_idle = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$"))
            expect(kernel_idle.first).to_be_visible(timeout=LAB_START_DEADLINE * 1000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
            # The last cell's output (not its source, which says the same words) proves every cell ran.
            final_output = page.locator(".jp-OutputArea-output", has_text="Final job table")
            expect(final_output).to_be_visible(timeout=NOTEBOOK_RUN_MS)
            yield page
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_form_submission_shows_progress_and_turns_completed_live(notebook_page: Any,
                                                                 record_property: pytest.FixtureRequest):
    from playwright.sync_api import expect

    page = notebook_page
    job_name = f"browser-{secrets.token_hex(3)}"
    screenshot = ARTIFACTS / "browser-form-completed.png"
    # One live dashboard; the steps below it show static snapshots.
    expect(page.locator(".jq-dashboard .jq-live-table")).to_have_count(1)
    second_user = page.locator(".jq-second-user")  # notebook 02's second visitor, with a table of their own
    expect(second_user).to_have_count(1)
    one_job = page.locator('.jq-snapshot[data-step="one-job"] .jq-row', has_text="hello-queue")
    expect(one_job.locator(".jq-status")).to_have_text("Completed")

    form = page.locator(".jq-job-form")
    form.scroll_into_view_if_needed()
    form.locator(".jq-job-type select").select_option("generate_report")
    expect(form.locator(".jq-payload textarea")).to_have_value(re.compile(r'"sections": 5'))
    form.locator(".jq-payload textarea").fill('{"title": "From the browser", "sections": 10}')
    form.locator(".jq-job-name input").fill(job_name)
    expect(form.locator(".jq-payload-error")).to_have_text("")
    expect(form.locator(".jq-preview")).to_contain_text(f'task_name => "{job_name}"')
    form.locator("button.jq-process-job").click()
    seen = page.wait_for_function(WATCH_PROGRESS, arg=[job_name], polling="raf",
                                  timeout=ROW_COMPLETED_MS).json_value()
    assert len(set(seen)) >= 2, f"the progress bar did not move before Completed: {seen}"
    row = page.locator(".jq-dashboard .jq-live-table .jq-row", has_text=job_name)
    expect(row.locator(".jq-status")).to_have_text("Completed")
    expect(second_user.locator(".jq-row", has_text=job_name)).to_have_count(0)
    expect(second_user.locator(".jq-row", has_text="second-users-job")).to_have_count(1)
    expect(one_job.locator(".jq-status")).to_have_text("Completed")
    # The row's node is replaced on every update, so the screenshot frames the form (a stable node):
    # the newest row sits right below it.
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot))
    record_property("screenshot", str(screenshot))


def test_out_of_range_priority_is_refused_with_the_rule(notebook_page: Any):
    from playwright.sync_api import expect

    form = notebook_page.locator(".jq-job-form")
    form.scroll_into_view_if_needed()
    form.locator(".jq-priority input").fill("500")
    form.locator(".jq-priority input").press("Enter")
    expect(form.locator(".jq-field-error")).to_contain_text("priority must be between -100 and 100, got 500")
    expect(form.locator("button.jq-process-job")).to_be_disabled()
    expect(form.locator(".jq-priority input")).to_have_value("500")
    form.locator(".jq-priority input").fill("0")
    form.locator(".jq-priority input").press("Enter")
    expect(form.locator("button.jq-process-job")).to_be_enabled()


def test_a_click_handled_on_a_kernel_subshell_reaches_the_live_table(notebook_page: Any, lab: Lab):
    from playwright.sync_api import expect

    job_name = f"subshell-{secrets.token_hex(3)}"
    kernel = LabKernel(lab.base_url, lab.token, NOTEBOOK.name)
    try:
        subshell = kernel.create_subshell()
        thread = kernel.run("import threading\n"
                            "dash.form.job_type.value = 'echo'\n"
                            f"dash.form.name.value = {job_name!r}\n"
                            "dash.form.button.click()\n"
                            "print(threading.current_thread().name)", subshell)
    finally:
        kernel.close()
    assert thread != "MainThread", "the click ran on the kernel's main thread, not on a subshell"
    row = notebook_page.locator(".jq-dashboard .jq-live-table .jq-row", has_text=job_name)
    expect(row.locator(".jq-status")).to_have_text("Completed", timeout=ROW_COMPLETED_MS)
    expect(notebook_page.locator(".jq-dashboard .jq-live-table .jq-connection-state")).to_have_text("SUBSCRIBED")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_dashboard_fits_the_lab_without_scrolling_sideways(notebook_page: Any, width: int):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = notebook_page
    page.set_viewport_size({"width": width, "height": 1000})
    dashboard = page.locator(".jq-dashboard")
    dashboard.scroll_into_view_if_needed()
    # Relayout after the resize is asynchronous: wait (a while) for the table to fit, then measure what it is.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(f"() => {{ const m = ({MEASURE_LAYOUT})(); return m.rows[0] <= m.rows[1]; }}",
                               timeout=RELAYOUT_MS)
    layout = page.evaluate(MEASURE_LAYOUT)
    dashboard.screenshot(path=str(ARTIFACTS / f"browser-dashboard-{width}.png"))
    assert layout["rows"][0] <= layout["rows"][1], f"the job table scrolls sideways at {width} px: {layout}"
    assert layout["dashboard"][0] <= layout["dashboard"][1], f"the dashboard overflows at {width} px: {layout}"
    assert layout["right"][0] <= layout["right"][1], f"the dashboard is wider than its cell at {width} px: {layout}"
    assert layout["columns"][0] <= layout["columns"][1], f"the columns overflow the row at {width} px: {layout}"
    assert layout["cut_labels"] == [], f"header labels cut short at {width} px: {layout}"
    assert layout["scrolled"] > 0, f"too few rows to scroll at {width} px: {layout}"
    assert layout["row"] and layout["header"] == layout["row"], f"header and rows disagree at {width} px: {layout}"
    assert layout["wrapped"] == [], f"these names or panel cells wrap at {width} px: {layout['wrapped']}"
