"""A person's path through JupyterLab, in headless Chromium: open notebook 02 and run it; the live dashboard is
there once and each step's snapshot still shows its result; then pick ``generate_report`` in the form, submit,
and see the row's progress bar move and the row turn Completed without reloading the page."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from supabase_local.state import free_port
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


@pytest.fixture(scope="module")
def lab(stack_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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
        yield f"http://127.0.0.1:{port}/lab/tree/notebooks/{NOTEBOOK.name}?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stop_notebook_worker(stack_dir)


def test_form_submission_shows_progress_and_turns_completed_live(chromium: str, lab: str,
                                                                 record_property: pytest.FixtureRequest):
    from playwright.sync_api import expect, sync_playwright

    job_name = f"browser-{secrets.token_hex(3)}"
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "browser-form-completed.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(lab)
            # The kernel is connected once the status bar reads "<kernel> | Idle"; Run All before that does nothing.
            kernel_idle = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$"))
            expect(kernel_idle.first).to_be_visible(timeout=LAB_START_DEADLINE * 1000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
            # The last cell's output (not its source, which says the same words) proves every cell ran.
            final_output = page.locator(".jp-OutputArea-output", has_text="Final job table")
            expect(final_output).to_be_visible(timeout=NOTEBOOK_RUN_MS)

            # One live dashboard; the steps below it show static snapshots.
            expect(page.locator(".jq-live-table")).to_have_count(1)
            one_job = page.locator('.jq-snapshot[data-step="one-job"] .jq-row', has_text="hello-queue")
            expect(one_job.locator(".jq-status")).to_have_text("Completed")

            form = page.locator(".jq-job-form")
            form.scroll_into_view_if_needed()
            form.locator(".jq-job-type select").select_option("generate_report")
            expect(form.locator(".jq-payload textarea")).to_have_value(re.compile(r'"sections": 5'))
            form.locator(".jq-payload textarea").fill('{"title": "From the browser", "sections": 10}')
            form.locator(".jq-job-name input").fill(job_name)
            expect(form.locator(".jq-payload-error")).to_have_text("")
            form.locator("button.jq-process-job").click()
            seen = page.wait_for_function(WATCH_PROGRESS, arg=[job_name], polling="raf",
                                          timeout=ROW_COMPLETED_MS).json_value()
            assert len(set(seen)) >= 2, f"the progress bar did not move before Completed: {seen}"
            row = page.locator(".jq-live-table .jq-row", has_text=job_name)
            expect(row.locator(".jq-status")).to_have_text("Completed")
            expect(one_job.locator(".jq-status")).to_have_text("Completed")
            # The row's node is replaced on every update, so the screenshot frames the form (a stable node):
            # the newest row sits right below it.
            form.scroll_into_view_if_needed()
            page.screenshot(path=str(screenshot))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    record_property("screenshot", str(screenshot))
    print(f"screenshot: {screenshot}")
