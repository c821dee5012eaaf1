"""Start, find, stop and read the worker as its own process, for the notebooks and the tests.

``start_worker`` launches ``python -m worker`` detached (its own session, output in a log file), records
its pid and port in ``worker.json`` in the stack's state directory and returns once ``/healthz`` answers.
``ensure_worker`` reuses a healthy recorded worker. A worker is recognised by the pid its ``/healthz``
reports, so a stale state file or a reused pid never leads to signalling a stranger.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psutil
import structlog

from jobqueue.logs import configure_logging
from jobqueue.settings import PROJECT_ROOT, Settings, SettingsError, configured, load_settings, local_stack_dir
from worker.settings import DEFAULT_HOST, DEFAULT_PORT, hook_url

log = structlog.get_logger(__name__)

STATE_FILE = "worker.json"
LOG_FILE = "worker.log"
START_DEADLINE_SECONDS = 20.0
_children: dict[int, subprocess.Popen[bytes]] = {}


class WorkerError(RuntimeError):
    """The worker process could not be started or reached; the message names its log."""


@dataclass(frozen=True)
class WorkerProcess:
    """A running worker: where it listens, its pid, and where its log and state file are."""

    pid: int
    host: str
    port: int
    log_path: str
    state_path: str

    @property
    def url(self) -> str:
        """The base URL of the worker's HTTP endpoints."""
        return f"http://{self.host}:{self.port}"

    @property
    def hook_url(self) -> str:
        """The URL the database posts webhooks to (``WORKER_URL``)."""
        return hook_url(self.host, self.port)


def worker_env(settings: Settings) -> dict[str, str]:
    """The variables ``python -m worker`` reads, taken from resolved settings."""
    env = {
        "SUPABASE_URL": settings.supabase_url,
        "SUPABASE_SERVICE_ROLE_KEY": settings.service_role_key,
        "WEBHOOK_SECRET": settings.webhook_secret,
        "JOB_MIN_SECONDS": str(settings.job_min_seconds),
        "JOB_MAX_SECONDS": str(settings.job_max_seconds),
        "MAX_ATTEMPTS": str(settings.max_attempts),
    }
    if settings.job_fail_pattern:
        env["JOB_FAIL_PATTERN"] = settings.job_fail_pattern
    return env


def health(worker: WorkerProcess, timeout: float = 2.0) -> dict[str, Any] | None:
    """The worker's ``/healthz`` answer when it is this worker (its pid, or its supervisor's), else None."""
    try:
        answer = httpx.get(f"{worker.url}/healthz", timeout=timeout).json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(answer, dict):
        return None
    return answer if worker.pid in (answer.get("pid"), answer.get("supervisor")) else None


def runs(worker: WorkerProcess, limit: int = 100) -> list[dict[str, Any]]:
    """The worker's newest runs (job, attempt, start, duration, outcome), newest first."""
    response = httpx.get(f"{worker.url}/runs", params={"limit": limit}, timeout=5.0)
    response.raise_for_status()
    return list(response.json()["runs"])


def load_worker(state_dir: Path) -> WorkerProcess | None:
    """The worker recorded in ``state_dir``, whether or not it still runs."""
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return None
    return WorkerProcess(**json.loads(path.read_text()))


def _log_tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_healthy(worker: WorkerProcess, process: subprocess.Popen[bytes], deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WorkerError(f"the worker exited with code {process.returncode} while starting; "
                              f"its log {worker.log_path} ends with:\n{_log_tail(Path(worker.log_path))}")
        answer = health(worker, timeout=1.0)
        if answer and answer.get("status") == "ok":
            return
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise WorkerError(f"the worker did not answer /healthz within {deadline_seconds:.0f} s; see {worker.log_path}")


def start_worker(settings_env: Mapping[str, str], port: int, state_dir: Path, host: str = DEFAULT_HOST,
                 concurrency: int | None = None, pull: bool = False, processes: int = 1,
                 deadline_seconds: float = START_DEADLINE_SECONDS) -> WorkerProcess:
    """Launch ``python -m worker`` detached with ``settings_env`` over this environment; return once healthy.

    With ``processes`` > 1 the recorded pid is the supervisor's.
    """
    reap_children()
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "worker", "--host", host, "--port", str(port)]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    if pull:
        command.append("--pull")
    if processes > 1:
        command += ["--processes", str(processes)]
    log_path = state_dir / LOG_FILE
    with log_path.open("ab") as log_file:
        # The log is read by people (the notebooks show its lines): console format unless LOG_FORMAT says json.
        process = subprocess.Popen(command, env={"LOG_FORMAT": "console", **os.environ, **settings_env},
                                   cwd=PROJECT_ROOT,
                                   stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    _children[process.pid] = process
    worker = WorkerProcess(pid=process.pid, host=host, port=port, log_path=str(log_path),
                           state_path=str(state_dir / STATE_FILE))
    _wait_healthy(worker, process, deadline_seconds)
    state = Path(worker.state_path)
    state.with_suffix(".tmp").write_text(json.dumps(asdict(worker)))
    state.with_suffix(".tmp").replace(state)
    log.info("worker.started", pid=worker.pid, url=worker.url, log=worker.log_path)
    return worker


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs: absent, or a zombie (exited, waiting for its parent to reap it).

    ``os.kill(pid, 0)`` succeeds on a zombie, so a worker that exited under an open kernel (its parent)
    would otherwise look alive until the kernel ends.
    """
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def reap_children() -> list[int]:
    """Collect the exit status of every worker this process started that has exited; return their pids."""
    reaped = [pid for pid, child in _children.items() if child.poll() is not None]
    for pid in reaped:
        del _children[pid]
    return reaped


def _exited(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is not None
    return process_gone(pid)


def wait_for_exit(pid: int, seconds: float) -> bool:
    """True once process ``pid`` has exited (reaped when this process started it), False after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _exited(pid):
            return True
        time.sleep(0.05)
    return _exited(pid)


def stop_worker(worker: WorkerProcess, grace_seconds: float = 35.0, force: bool = False) -> bool:
    """Stop the worker: SIGTERM (it drains for up to its grace period), SIGKILL after ``grace_seconds``.

    ``force`` sends SIGKILL at once, as a crash would. Returns False when it was not running.
    """
    ours = worker.pid in _children and not _exited(worker.pid)
    if not ours and health(worker) is None:
        Path(worker.state_path).unlink(missing_ok=True)
        return False
    os.kill(worker.pid, signal.SIGKILL if force else signal.SIGTERM)
    if not wait_for_exit(worker.pid, grace_seconds):
        log.warning("worker.kill", pid=worker.pid, reason=f"still running after {grace_seconds} s")
        os.kill(worker.pid, signal.SIGKILL)
        wait_for_exit(worker.pid, 10.0)
    _children.pop(worker.pid, None)
    Path(worker.state_path).unlink(missing_ok=True)
    log.info("worker.stopped", pid=worker.pid, forced=force)
    return True


def ensure_worker(settings: Settings | None = None, state_dir: Path | None = None,
                  concurrency: int | None = None) -> WorkerProcess:
    """The healthy worker recorded for this project, or a new one on the port of ``WORKER_URL`` (a pull worker on
    the default port when the project is pull-only)."""
    reap_children()
    settings = settings or load_settings()
    directory = Path(state_dir or settings.local_stack_dir or local_stack_dir(configured()))
    recorded = load_worker(directory)
    if recorded is not None and (answer := health(recorded)) and answer.get("status") == "ok":
        log.info("worker.reused", pid=recorded.pid, url=recorded.url)
        return recorded
    return start_project_worker(settings, directory, concurrency=concurrency)


def start_project_worker(settings: Settings, state_dir: Path, env: Mapping[str, str] | None = None,
                         concurrency: int | None = None) -> WorkerProcess:
    """Start a worker where ``WORKER_URL`` points, with ``env`` (default: ``worker_env(settings)``); for a
    pull-only project (no ``WORKER_URL``, no webhooks) a ``--pull`` worker on the default port."""
    env = worker_env(settings) if env is None else env
    if settings.worker_url is None:
        return start_worker(env, port=DEFAULT_PORT, state_dir=state_dir, concurrency=concurrency, pull=True)
    url = urlparse(settings.worker_url)
    return start_worker(env, port=url.port or DEFAULT_PORT, state_dir=state_dir, host=url.hostname or DEFAULT_HOST,
                        concurrency=concurrency)


def _run(command: str) -> int:
    if command == "start":
        print(f"worker running at {ensure_worker().url}")
        return 0
    settings = load_settings()
    worker = load_worker(Path(settings.local_stack_dir or local_stack_dir(configured())))
    if command == "stop":
        print("worker stopped." if worker is not None and stop_worker(worker) else "no worker was running.")
        return 0
    answer = health(worker) if worker is not None else None
    print(json.dumps(answer, indent=2) if answer else "no worker is running.")
    return 0 if answer else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m jobqueue.worker_process start|stop|status``: the project's worker, as ``make lab/stop`` use it.
    A settings problem is one line naming the variable, and exit code 2."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m jobqueue.worker_process")
    parser.add_argument("command", choices=["start", "stop", "status"])
    command = parser.parse_args(argv).command
    try:
        configure_logging()
        return _run(command)
    except SettingsError as err:
        print(f"{parser.prog}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
