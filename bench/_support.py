"""What the benchmarks share: a throwaway stack, a request-counting HTTP server, and number formatting."""

from __future__ import annotations

import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil

from supabase_local import lifecycle
from supabase_local.state import StackState
from worker.logs import configure_logging


@contextmanager
def temporary_stack() -> Iterator[StackState]:
    """Start a stack in a fresh temporary directory and stop it (and delete it) afterwards."""
    configure_logging(default_level="WARNING")
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as directory:
        state = lifecycle.start(directory)
        try:
            yield state
        finally:
            lifecycle.stop(directory)


class Arrivals:
    """Arrival times (``time.time()``) of requests by their ``i`` query parameter."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._changed = threading.Condition()

    def add(self, key: str, when: float) -> None:
        with self._changed:
            self.at[key] = when
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        """Block until ``count`` requests arrived; raise after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.at) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"only {len(self.at)} of {count} requests arrived within {timeout} s")
                self._changed.wait(left)


@contextmanager
def counting_server() -> Iterator[tuple[str, Arrivals]]:
    """An HTTP/1.1 (keep-alive) server on a free loopback port that answers 200 and notes each arrival."""
    arrivals = Arrivals()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            when = time.time()
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            arrivals.add(parse_qs(urlsplit(self.path).query)["i"][0], when)

        def log_message(self, *args: object) -> None:
            return

    class Server(ThreadingHTTPServer):
        request_queue_size = 256
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", arrivals
    finally:
        server.shutdown()
        server.server_close()


def cpu_seconds(process: psutil.Process, children: bool = False) -> float:
    """User + system CPU seconds of ``process``; with ``children``, plus its live descendants and the children
    it has reaped (PostgreSQL backends that exited while measuring still count through the postmaster)."""
    times = process.cpu_times()
    total = times.user + times.system
    if children:
        total += times.children_user + times.children_system
        for child in process.children(recursive=True):
            try:
                child_times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += child_times.user + child_times.system
    return total


def postmaster(pgdata: Path) -> psutil.Process:
    """The postmaster of a data directory (the first line of its ``postmaster.pid``)."""
    return psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))


class CpuMeter:
    """CPU seconds spent by named processes between ``start`` and ``stop``; PostgreSQL counts its children."""

    def __init__(self, processes: dict[str, psutil.Process], with_children: frozenset[str] = frozenset()) -> None:
        self.processes = processes
        self.with_children = with_children
        self._before: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        return {name: cpu_seconds(process, name in self.with_children) for name, process in self.processes.items()}

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        self.spent = {name: after[name] - self._before[name] for name in self.processes}
        return self.spent


@contextmanager
def profiled(pids: dict[str, int], directory: Path | None, rate: int = 100) -> Iterator[None]:
    """Sample each named process with ``py-spy record`` (Python frames holding the GIL, so CPU, not waits)
    while the block runs; writes ``<directory>/<name>.txt`` in py-spy's raw (collapsed) format. A no-op
    without a directory."""
    if directory is None:
        yield
        return
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    directory.mkdir(parents=True, exist_ok=True)
    recorders = [subprocess.Popen([py_spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                                   "--gil", "--nonblocking", "--output", str(directory / f"{name}.txt")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for name, pid in pids.items()]
    time.sleep(1.0)  # attached before the measured work starts
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in recorders:
            recorder.wait(timeout=60)


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by the inclusive method."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(pct) - 1]


def print_figures(title: str, figures: dict[str, float], decimals: int = 0) -> dict[str, float]:
    """Print a title and one aligned line per figure; returns the figures."""
    print(title)
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        print(f"  {name:<{width}} {value:>10,.{decimals}f}")
    return figures
