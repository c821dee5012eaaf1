"""What the benchmarks share: a throwaway stack, a request-counting HTTP server, and number formatting."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from supabase_local import lifecycle
from supabase_local.logs import configure_logging
from supabase_local.state import StackState


@contextmanager
def temporary_stack() -> Iterator[StackState]:
    """Start a stack in a fresh temporary directory and stop it (and delete it) afterwards."""
    configure_logging("WARNING")
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
