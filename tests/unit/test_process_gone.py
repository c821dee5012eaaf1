"""A worker that exited under an open kernel lingers as a zombie: it must count as gone, and its parent reaps it."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil

from jobqueue import worker_process
from jobqueue.worker_process import process_gone, reap_children, wait_for_exit
from supabase_local.testing import eventually


def _zombie() -> subprocess.Popen[bytes]:
    """A child that has exited but is not reaped yet (nobody called wait on it)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    eventually(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, what="the child exits")
    return child


def test_a_zombie_counts_as_gone_although_kill_0_still_succeeds():
    child = _zombie()
    try:
        os.kill(child.pid, 0)  # the old check: the zombie still "exists"
        assert process_gone(child.pid)
        assert wait_for_exit(child.pid, 0)
    finally:
        child.wait()


def test_a_running_process_is_not_gone():
    assert not process_gone(os.getpid())


def test_a_reaped_pid_is_gone():
    child = _zombie()
    child.wait()
    assert process_gone(child.pid)


def test_reap_children_collects_own_exited_workers(monkeypatch):
    child = _zombie()
    monkeypatch.setitem(worker_process._children, child.pid, child)
    assert child.pid in reap_children()
    assert child.pid not in worker_process._children
    assert child.returncode == 0
    assert process_gone(child.pid)
