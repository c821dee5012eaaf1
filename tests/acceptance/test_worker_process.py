"""The worker process lifecycle without a database: start, health, reuse, clean SIGTERM exit, clear failures."""

from __future__ import annotations

import base64
import os
import signal
from pathlib import Path

import httpx
import psutil
import pytest

from jobqueue import worker_process
from jobqueue.settings import Settings
from jobqueue.worker_process import (
    WorkerError,
    ensure_worker,
    health,
    load_worker,
    start_worker,
    stop_worker,
    wait_for_exit,
    worker_env,
)
from supabase_local.state import free_port
from supabase_local.testing import eventually
from tests.log_lines import event_lines

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def offline_settings(port: int) -> Settings:
    """Settings for a project nobody serves: enough for the worker to start and answer HTTP."""
    return Settings(supabase_url=f"http://127.0.0.1:{free_port()}", anon_key="anon", service_role_key="service",
                    db_url="postgresql://nobody@127.0.0.1:1/none", webhook_secret=SECRET,
                    worker_url=f"http://127.0.0.1:{port}/hooks/work-queue")


def test_start_reuse_and_graceful_stop(tmp_path: Path):
    port = free_port()
    settings = offline_settings(port)
    env = worker_env(settings) | {"WORKER_PULL_IDLE_SECONDS": "0"}
    worker = start_worker(env, port=port, state_dir=tmp_path)
    try:
        assert health(worker)["status"] == "ok"
        assert load_worker(tmp_path) == worker
        assert ensure_worker(settings, state_dir=tmp_path) == worker
        unsigned = httpx.post(worker.hook_url, json={"msg_id": 1}, timeout=5)
        assert unsigned.status_code == 401
    finally:
        assert stop_worker(worker)
    assert load_worker(tmp_path) is None
    log = Path(worker.log_path).read_text()
    assert event_lines(log, "worker.stopped") and event_lines(log, "hook.refused", status=401)
    assert not stop_worker(worker)


def test_sigint_also_exits_cleanly(tmp_path: Path):
    port = free_port()
    worker = start_worker(worker_env(offline_settings(port)), port=port, state_dir=tmp_path)
    os.kill(worker.pid, signal.SIGINT)
    assert wait_for_exit(worker.pid, 15)
    assert event_lines(Path(worker.log_path).read_text(), "worker.stopped")


def test_bad_settings_fail_fast_with_the_log(tmp_path: Path):
    port = free_port()
    env = worker_env(offline_settings(port)) | {"JOB_FAIL_PATTERN": "("}
    with pytest.raises(WorkerError, match="JOB_FAIL_PATTERN must be a valid regular expression"):
        start_worker(env, port=port, state_dir=tmp_path)
    assert load_worker(tmp_path) is None


def test_a_worker_exited_under_its_parent_counts_as_stopped_for_another_process(tmp_path: Path):
    """Regression: ``make stop`` waited out its grace period and killed a worker that had exited long before,
    because the worker lingered as a zombie of the kernel that started it and ``kill(pid, 0)`` still succeeds."""
    port = free_port()
    worker = start_worker(worker_env(offline_settings(port)), port=port, state_dir=tmp_path)
    child = worker_process._children.pop(worker.pid)  # seen from a process that did not start it, as make stop is
    try:
        os.kill(worker.pid, signal.SIGTERM)
        eventually(lambda: psutil.Process(worker.pid).status() == psutil.STATUS_ZOMBIE, 30, "the worker exits")
        assert wait_for_exit(worker.pid, 0)
        assert not stop_worker(worker)
        assert load_worker(tmp_path) is None
    finally:
        child.wait()
