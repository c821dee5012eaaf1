"""Reading a supervised worker from outside: its children, and each child's answers over the shared port."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psutil

from jobqueue.worker_process import WorkerProcess


def child_pids(worker: WorkerProcess) -> set[int]:
    """The pids of the supervisor's live worker children."""
    try:
        children = psutil.Process(worker.pid).children()
    except psutil.NoSuchProcess:
        return set()
    return {child.pid for child in children if not exited(child.pid)}


def answers_by_pid(worker: WorkerProcess, path: str, pids: set[int], deadline: float = 30.0) -> dict[int, Any]:
    """Each child's answer to ``GET path``: every request opens a new connection, which the kernel hands to
    some child, so ask until each of ``pids`` has answered once."""
    answers: dict[int, Any] = {}
    end = time.monotonic() + deadline
    while set(answers) < pids:
        assert time.monotonic() < end, f"children {sorted(pids - set(answers))} never answered {path}"
        with httpx.Client(timeout=5.0) as client:
            body = client.get(f"{worker.url}{path}").json()
        answers.setdefault(int(body["pid"]), body)
    return answers


def runs_by_pid(worker: WorkerProcess, pids: set[int]) -> dict[int, list[dict[str, Any]]]:
    """Each child's ``/runs`` (all it remembers)."""
    return {pid: body["runs"] for pid, body in answers_by_pid(worker, "/runs?limit=100000", pids).items()}


def wait_children(worker: WorkerProcess, count: int, without: int | None = None, deadline: float = 30.0) -> set[int]:
    """The supervisor's children once ``count`` of them (none of them ``without``) answer ``/healthz``."""
    end = time.monotonic() + deadline
    while True:
        pids = child_pids(worker)
        if len(pids) == count and without not in pids:
            answers_by_pid(worker, "/healthz", pids, deadline)
            return pids
        assert time.monotonic() < end, f"expected {count} children (not {without}), found {sorted(pids)}"
        time.sleep(0.05)


def exited(pid: int) -> bool:
    """True once ``pid`` is gone or a zombie (an orphan's zombie waits for whichever process adopted it)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
