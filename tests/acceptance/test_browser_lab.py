"""Notebook 03 in JupyterLab, in headless Chromium: run it all, then use its live panels as a person would. A
click on **Like** is counted by the producer and shows up in the live queue metrics without a reload (the seed's
schedules are back by then, so the like waits in ``like_events``); **Kill a worker** in the chaos panel counts one
more kill."""

from __future__ import annotations

import re

import pytest

from tests.acceptance.test_browser import (  # noqa: F401
    ARTIFACTS,
    CHROMIUM_ARGS,
    LAB_START_DEADLINE,
    NOTEBOOK_RUN_MS,
    Lab,
    chromium,
    lab,
)
from tests.notebook_env import NOTEBOOK

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

LAB_NOTEBOOK = "03_queues_lab.ipynb"
LIVE_MS = 30_000
# Runs in the page: the depth the live metrics panel shows for ``queue`` (null until its row exists).
DEPTH = """([queue, atLeast]) => {
  const row = [...document.querySelectorAll('.jq-lab-metrics tr')].find(
    r => r.cells.length && r.cells[0].textContent === queue);
  return row ? parseInt(row.cells[1].textContent.replace(/,/g, ''), 10) >= atLeast : false;
}"""


def test_the_lab_runs_and_its_panels_stay_live(chromium: str, lab: Lab):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    url = lab.notebook_url.replace(NOTEBOOK.name, LAB_NOTEBOOK)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(url)
            kernel_idle = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$"))
            expect(kernel_idle.first).to_be_visible(timeout=LAB_START_DEADLINE * 1000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
            # The last cell prints the consumers with the seed's schedules back: every cell ran.
            expect(page.locator(".jp-OutputArea-output", has_text="10 seconds")).to_be_visible(
                timeout=NOTEBOOK_RUN_MS)
            expect(page.locator(".jp-OutputArea-output", has_text="jobs unaccounted for: 0")).to_be_visible()

            expect(page.locator(".jq-lab-metrics")).to_have_count(1)
            status = page.locator(".widget-html", has_text="likes sent by this panel")
            sent = int(re.search(r"(\d+) likes sent", status.inner_text()).group(1))
            page.get_by_role("button", name="Like").click()
            expect(status).to_contain_text(f"{sent + 1} likes sent by this panel", timeout=LIVE_MS)
            page.wait_for_function(DEPTH, arg=["like_events", 1], timeout=LIVE_MS)

            kills = page.locator(".widget-html", has_text="workers killed")
            expect(kills).to_contain_text("workers killed: 1")
            page.get_by_role("button", name="Kill a worker").click()
            expect(kills).to_contain_text("workers killed: 2", timeout=LIVE_MS)
            page.screenshot(path=str(ARTIFACTS / "browser-lab.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser-lab-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
