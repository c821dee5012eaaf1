"""One feed of job rows, with no widget in it: Realtime changes of ``job_results`` merged into a model that the
live table renders and ``wait_for_job_completion`` waits on."""

from __future__ import annotations

from jobqueue.feed.feed import FeedState, JobFeed
from jobqueue.feed.loop import LoopBound
from jobqueue.feed.model import Change, ChangeKind, JobTableModel

__all__ = ["Change", "ChangeKind", "FeedState", "JobFeed", "JobTableModel", "LoopBound"]
