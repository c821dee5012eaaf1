"""The job feed and the live table over the real stack: one loop owns the model whatever thread a widget callback
arrives on, a handler that raises costs one re-read and not the listener, and a stopped listener is shown."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from supabase import AsyncClient

from jobqueue.feed import JobFeed
from jobqueue.job import TERMINAL_STATUSES
from jobqueue.jobs_async import cancel_job, enqueue_job, job_types, jobs_topic, service_client, visitor_client
from jobqueue.settings import Settings
from jobqueue.widgets.form import JobForm
from jobqueue.widgets.live_table import LiveJobTable
from tests.worker_support import WorkerHandle

pytestmark = pytest.mark.timeout(180)
DEADLINE = 60.0


@pytest.fixture(scope="module")
def worker(provisioned: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:
    with WorkerHandle.running(provisioned, tmp_path_factory.mktemp("feed-worker")) as handle:
        yield handle


@pytest.fixture
async def clients(provisioned: Settings) -> AsyncIterator[tuple[AsyncClient, AsyncClient]]:
    client, operator = await visitor_client(provisioned), await service_client(provisioned)
    yield client, operator
    for each in (client, operator):
        await each.realtime.close()
        await each.postgrest.aclose()


async def until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Poll ``condition`` on this loop (letting the feed run) until it holds, or fail naming ``what``."""
    ends = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > ends:
            pytest.fail(f"not within {deadline:g} s: {what}")
        await asyncio.sleep(0.05)


def spy_threads(feed: JobFeed) -> set[int]:
    """Record the thread of every change of the feed's model (the model itself is untouched)."""
    threads: set[int] = set()
    upsert = feed.model.upsert

    def recording(record: Any) -> Any:
        threads.add(threading.get_ident())
        return upsert(record)

    feed.model.upsert = recording  # type: ignore[method-assign]
    return threads


def names_done(feed: JobFeed, prefix: str, count: int) -> bool:
    done = [row for row in feed.rows() if row.task_name.startswith(prefix) and row.status in TERMINAL_STATUSES]
    return len(done) == count


async def test_form_and_cancel_clicks_from_another_thread_change_the_model_on_its_loop(
        clients: tuple[AsyncClient, AsyncClient], worker: WorkerHandle):
    client, operator = clients
    feed = JobFeed(client, max_rows=200, topic=await jobs_topic(client))  # the user's private broadcast topic
    table = await LiveJobTable(feed, cancel=functools.partial(cancel_job, operator)).start()
    form = JobForm(await job_types(client), submit=functools.partial(enqueue_job, client), owner=feed.owner)
    form.on_submitted(feed.apply)
    threads = spy_threads(feed)
    prefix = f"clicked-{uuid.uuid4().hex[:6]}-"
    # Changes stream in meanwhile: a burst submitted on this loop while the other thread clicks.
    burst = [enqueue_job(client, "echo", task_name=f"{prefix}burst-{n}") for n in range(20)]
    [held] = [await enqueue_job(client, "echo", task_name=f"{prefix}held", delay=600)]

    def click_from_a_thread() -> None:
        for n in range(8):
            form.name.value = f"{prefix}form-{n}"
            form.button.click()
            ends = time.monotonic() + DEADLINE
            while len(form.submitted) <= n and time.monotonic() < ends:
                time.sleep(0.01)
        ends = time.monotonic() + DEADLINE
        while held.job_id not in table._views and time.monotonic() < ends:
            time.sleep(0.01)
        table._views[held.job_id].cancel.click()

    clicker = threading.Thread(target=click_from_a_thread, name="widget-callbacks")
    try:
        clicker.start()
        await asyncio.gather(*burst)
        await until(lambda: not clicker.is_alive(), "the clicking thread to finish")
        await until(lambda: names_done(feed, prefix, 29), "all 29 jobs finished in the feed")
    finally:
        clicker.join(timeout=DEADLINE)
        await table.stop()
    assert threads == {threading.get_ident()}, "the model was changed off the loop that owns it"
    assert feed.errors == 0 and len(form.submitted) == 8
    assert feed.get(held.job_id).status == "cancelled"
    assert {row.status for row in feed.rows() if row.task_name.startswith(prefix + "form-")} == {"completed"}


async def test_a_handler_that_raises_costs_a_re_read_not_the_listener(clients: tuple[AsyncClient, AsyncClient],
                                                                       worker: WorkerHandle):
    client, _ = clients
    feed = await JobFeed(client, max_rows=50).start()
    broken_once: list[str] = []

    def observer(change: Any) -> None:
        if change.row is not None and change.row.task_name.endswith("first") and not broken_once:
            broken_once.append(change.row.job_id)
            raise KeyError(change.row.job_id)

    feed.on_change(observer)
    prefix = f"raising-{uuid.uuid4().hex[:6]}-"
    try:
        first = await enqueue_job(client, "echo", task_name=f"{prefix}first")
        # A record the model cannot take (a job id, but no parseable time) arrives as Realtime would deliver it.
        feed._on_event({"data": {"type": "UPDATE", "record": {"job_id": first.job_id, "created_at": "not a time"}}})
        second = await enqueue_job(client, "echo", task_name=f"{prefix}second")
        await feed.wait_for([first.job_id, second.job_id], timeout=DEADLINE)
    finally:
        await feed.stop()
    assert broken_once and feed.errors == 1


async def test_a_stopped_listener_is_shown_and_rows_are_re_read(clients: tuple[AsyncClient, AsyncClient],
                                                                worker: WorkerHandle):
    client, _ = clients
    feed = JobFeed(client, max_rows=50, poll_seconds=0.2)
    table = await LiveJobTable(feed).start()
    try:
        listener = client.realtime._listen_task
        assert listener is not None
        listener.cancel()
        await until(lambda: "LISTENER STOPPED" in table._status.value, "the badge to say the listener stopped")
        job = await enqueue_job(client, "echo", task_name=f"unheard-{uuid.uuid4().hex[:6]}")
        [done] = await feed.wait_for([job.job_id], timeout=DEADLINE)
        shown = feed.status
    finally:
        await table.stop()
    assert done.status == "completed"
    assert shown.state == "LISTENER STOPPED" and "re-read every 0.2 s over REST" in str(shown.detail)


def test_kernel_subshell_clicks_reach_the_dashboard_on_the_main_loop(stack_dir: Path, provisioned: Settings,
                                                                     worker: WorkerHandle):
    from tests.kernel_subshell import KernelSession

    prefix = f"subshell-{uuid.uuid4().hex[:6]}-"
    with KernelSession(stack_dir) as kernel:
        kernel.run("import threading\n"
                   "from jobqueue.settings import load_settings\n"
                   "from jobqueue.widgets.dashboard import Dashboard\n"
                   "dash = await Dashboard.open(load_settings(), None)\n"
                   "main_thread = threading.get_ident()\n"
                   "changed_on = set()\n"
                   "_upsert = dash.feed.model.upsert\n"
                   "def _recording(record):\n"
                   "    changed_on.add(threading.get_ident())\n"
                   "    return _upsert(record)\n"
                   "dash.feed.model.upsert = _recording\n"
                   "clicked_on = set()\n"
                   "dash.form.button.on_click(lambda _button: clicked_on.add(threading.get_ident()))")
        subshell = kernel.create_subshell()
        for n in range(5):
            kernel.run(f"dash.form.name.value = '{prefix}{n}'\ndash.form.button.click()", subshell)
            kernel.until(f"len(dash.form.submitted) == {n + 1}", f"the click for {prefix}{n} to be submitted")
        kernel.until(f"sum(row.status == 'completed' for row in dash.feed.rows() "
                     f"if row.task_name.startswith({prefix!r})) == 5", "the five jobs to show Completed",
                     "[(row.task_name, row.status) for row in dash.feed.rows()][:8], dash.feed.status, "
                     "[job.task_name for job in dash.form.submitted], dash.form.message.value")
        assert kernel.run("print(changed_on == {main_thread}, dash.feed.status.state, dash.feed.errors)").split() \
            == ["True", "SUBSCRIBED", "0"]
        assert kernel.run("print(len(clicked_on), main_thread in clicked_on)").split() == ["1", "False"], \
            "the clicks did not arrive on a subshell thread"
        kernel.run("await dash.close()")


async def test_a_cut_socket_rejoins_and_the_re_read_brings_what_was_missed(provisioned: Settings,
                                                                            worker: WorkerHandle):
    from jobqueue.steps.resync import resync_after_reconnect
    from jobqueue.widgets.dashboard import Dashboard, JobSpec

    dash = await Dashboard.open(provisioned, None)
    try:
        done, notes = await resync_after_reconnect(dash, JobSpec(f"cut-{uuid.uuid4().hex[:6]}"), DEADLINE)
    finally:
        await dash.close()
    assert done.status == "completed"
    assert notes[0].startswith("channel: SUBSCRIBED (0.00 s)") and notes[0].count("SUBSCRIBED") >= 2, notes
    assert "REST re-reads after the rejoin: 0" not in notes[1], notes
