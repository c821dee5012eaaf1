"""Progress alone: a chatty task's reports are coalesced, sent in order, and the last one always lands on close."""

from __future__ import annotations

import asyncio
from typing import Any

from worker.progress import ProgressReporter


async def test_reports_are_coalesced_in_order_and_the_last_lands_on_close():
    sent: list[int] = []

    async def rpc(name: str, args: dict[str, Any]) -> Any:
        assert (name, args["job_id"]) == ("report_job_progress", "j1")
        sent.append(args["progress"])
        return True

    progress = ProgressReporter(rpc, "j1", min_interval=60)
    for percent in range(0, 101, 5):
        progress.report(percent, f"{percent}%")
        await asyncio.sleep(0)
    await asyncio.wait_for(progress.close(), timeout=10)
    assert sent == sorted(sent) and sent[-1] == 100
    assert len(sent) <= 3  # the first value at once, the newest on close: not twenty-one updates


async def test_a_failed_send_is_logged_and_the_reporter_goes_on():
    calls: list[int] = []

    async def rpc(name: str, args: dict[str, Any]) -> Any:
        calls.append(args["progress"])
        raise ConnectionError("gateway away")

    progress = ProgressReporter(rpc, "j1", min_interval=0)
    progress.report(10)
    progress.report(20)
    await asyncio.wait_for(progress.close(), timeout=10)
    assert calls[-1] == 20 and progress.sent == 0


async def test_closing_a_reporter_that_never_reported_sends_nothing():
    async def rpc(name: str, args: dict[str, Any]) -> Any:
        raise AssertionError("nothing to send")

    await ProgressReporter(rpc, "j1").close()
