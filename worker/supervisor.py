"""Several worker processes on one webhook port, kept alive by a small supervisor.

The supervisor binds one listening socket per child slot, all on the same port with ``SO_REUSEPORT``, and
hands each to its child (``python -m worker --fd N``). The kernel spreads new connections across the
sockets; the supervisor keeps every socket open, so connections that reach a slot whose child just died
wait in that socket's queue for the replacement instead of being refused. (Without ``SO_REUSEPORT`` all
children share one socket.) A child that exits is started again after a delay that grows while children
keep dying young.
SIGTERM or SIGINT is passed on to every child, which drains as a single worker does; the supervisor exits
once all of them have. The children share nothing but the socket: PostgreSQL leases decide who runs a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

LISTEN_BACKLOG = 2048
KILL_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``base`` doubled per consecutive early death, at most ``cap``; a child that lived
    ``healthy_after`` seconds counts as healthy and resets the count."""

    base: float = 0.1
    cap: float = 10.0
    healthy_after: float = 10.0

    def delay(self, early_deaths: int) -> float:
        """The wait before the next start after ``early_deaths`` deaths in a row (at least 1)."""
        return min(self.cap, self.base * 2 ** max(0, early_deaths - 1))


def _listener(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def bind_listeners(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per child on ``host:port`` (the same socket for all without ``SO_REUSEPORT``)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return [_listener(host, port, reuse_port=False)] * count
    first = _listener(host, port, reuse_port=True)
    port = first.getsockname()[1]
    return [first, *(_listener(host, port, reuse_port=True) for _ in range(count - 1))]


class Supervisor:
    """Runs one child per listening socket until told to stop, restarting any that die."""

    def __init__(self, sockets: list[socket.socket], child_args: list[str], grace_seconds: float,
                 backoff: Backoff | None = None) -> None:
        self._sockets = sockets
        self._child_args = child_args
        self._grace_seconds = grace_seconds
        self._backoff = backoff or Backoff()
        self._children: dict[int, asyncio.subprocess.Process] = {}
        self._stopping = asyncio.Event()

    async def run(self) -> int:
        """Start the children, keep them running, and return 0 once a signal has stopped them all."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        log.info("supervisor.started", processes=len(self._sockets), port=self._sockets[0].getsockname()[1])
        slots = [asyncio.create_task(self._keep_alive(slot)) for slot in range(len(self._sockets))]
        await self._stopping.wait()
        await self._stop_children()
        for task in slots:
            task.cancel()
        await asyncio.gather(*slots, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        log.info("supervisor.stopped")
        return 0

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("supervisor.signal", signal=sig.name, children=sorted(self._children))
        self._stopping.set()
        for process in self._children.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)

    async def _spawn(self, slot: int) -> asyncio.subprocess.Process:
        fd = self._sockets[slot].fileno()
        command = [sys.executable, "-m", "worker", "--fd", str(fd), *self._child_args]
        # Its own process group: a terminal's Ctrl-C reaches the supervisor alone, which passes on one SIGTERM.
        process = await asyncio.create_subprocess_exec(*command, pass_fds=(fd,), process_group=0,
                                                       stdin=asyncio.subprocess.DEVNULL)
        self._children[process.pid] = process
        log.info("supervisor.child_started", slot=slot, pid=process.pid)
        if self._stopping.is_set():  # the signal came while this child was starting
            process.send_signal(signal.SIGTERM)
        return process

    async def _keep_alive(self, slot: int) -> None:
        early_deaths = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            process = await self._spawn(slot)
            code = await process.wait()
            self._children.pop(process.pid, None)
            if self._stopping.is_set():
                return
            lived = time.monotonic() - started
            early_deaths = 0 if lived >= self._backoff.healthy_after else early_deaths + 1
            delay = self._backoff.delay(max(1, early_deaths))
            log.warning("supervisor.child_exited", slot=slot, pid=process.pid, code=code,
                        lived_seconds=round(lived, 2), restart_in_seconds=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _stop_children(self) -> None:
        """Wait for the children to drain; kill those still running after their grace period."""
        waiting = list(self._children.values())
        if not waiting:
            return
        _, pending = await asyncio.wait([asyncio.create_task(p.wait()) for p in waiting],
                                           timeout=self._grace_seconds + KILL_MARGIN_SECONDS)
        for process in waiting:
            if process.returncode is None:
                log.warning("supervisor.kill", pid=process.pid, reason="still running after the grace period")
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def supervise(host: str, port: int, processes: int, child_args: list[str], grace_seconds: float) -> int:
    """Bind ``host:port`` and run ``processes`` workers on it until SIGTERM/SIGINT; the exit code."""
    sockets = bind_listeners(host, port, processes)
    return asyncio.run(Supervisor(sockets, child_args, grace_seconds).run())


def parent_gone(parent_pid: int) -> bool:
    """True when the process that started this one has exited (this one was adopted by another)."""
    return os.getppid() != parent_pid
