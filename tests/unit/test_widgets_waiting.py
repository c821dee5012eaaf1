"""The line a waiting cell shows: what it waits for, jobs done of total, their states, time elapsed."""

from __future__ import annotations

from jobqueue.widgets.waiting import wait_text


def test_a_waiting_cell_says_what_it_waits_for_and_how_far_it_got():
    assert wait_text("6 jobs (burst-00 … burst-05)", 2, 6, 3.14, {"pending": 3, "processing": 1, "completed": 2}) == (
        "Waiting for 6 jobs (burst-00 … burst-05): 2 of 6 done (3 pending, 1 processing, 2 completed), "
        "3.1 s elapsed.")
    assert wait_text("hello-queue", 1, 1, 1.0, {"completed": 1}, finished=True).startswith("Done: hello-queue: 1 of 1")
