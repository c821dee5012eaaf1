"""A tiny HTTP server on a free loopback port that records every request, for testing what the stack sends.

Paths decide the answer: ``/status/<code>`` answers that code, ``/hold`` waits while a test is inside
``Recorder.holding()`` (counting how many are in flight at once), ``/slow`` answers only when the server
closes, anything else answers 200 with a JSON body.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOLD_LIMIT_SECONDS = 60.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class Recorder:
    """What the server saw, with waits that end as soon as a condition holds (or fail at a deadline)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = threading.Event()
        self.release.set()
        self.closing = threading.Event()
        self._changed = threading.Condition()

    def add(self, request: Recorded) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def hold(self) -> None:
        with self._changed:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._changed.notify_all()
        self.release.wait(HOLD_LIMIT_SECONDS)
        with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Hold ``/hold`` requests inside the block; release them on the way out, even when the test fails,
        so that no held request keeps a sender busy for the tests that follow."""
        with self._changed:
            self.max_in_flight = 0
            self.release.clear()
        try:
            yield
        finally:
            self.release.set()

    def wait_until(self, condition: Callable[[Recorder], bool], timeout: float = 15.0) -> None:
        """Return once ``condition(self)`` is true; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"condition not met within {timeout} s; saw {len(self.requests)} requests")
                self._changed.wait(left)

    def with_path(self, path: str) -> list[Recorded]:
        with self._changed:
            return [r for r in self.requests if r.path == path]


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if parts.path == "/hold":
                recorder.hold()
            elif parts.path == "/slow":
                recorder.closing.wait(HOLD_LIMIT_SECONDS)
            recorder.add(Recorded(self.command, parts.path, parse_qs(parts.query),
                                  {k.lower(): v for k, v in self.headers.items()}, body))
            code = int(parts.path.rsplit("/", 1)[1]) if parts.path.startswith("/status/") else 200
            payload = b'{"received": true}'
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Recorder", "yes")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                return

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 refuses bursts of connections


@contextmanager
def recording_server() -> Iterator[tuple[str, Recorder]]:
    """Serve on 127.0.0.1 on a free port; yields the base URL and the recorder."""
    recorder = Recorder()
    server = _Server(("127.0.0.1", 0), _handler(recorder))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="http-recorder", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        recorder.release.set()
        recorder.closing.set()
        server.shutdown()
        server.server_close()
