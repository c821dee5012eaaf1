"""``python -m worker [--host --port --concurrency --pull --processes N]``: serve the webhook until SIGTERM/SIGINT.

With ``--processes N`` (N > 1) this process becomes a supervisor of N workers sharing one socket
(``worker.supervisor``); each child is this same command with the inherited socket's ``--fd``.
With ``--consume QUEUE [--batch N --vt S]`` it serves no webhooks but drains that queue of the queues lab
continuously (``worker.consumers.continuous``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterator

import structlog
import uvicorn
from uvicorn.loops.auto import auto_loop_factory

from worker.app import create_app
from worker.config import ConfigError, load_config
from worker.consumers.continuous import main as consume
from worker.db import connect
from worker.logs import configure_logging
from worker.settings import DEFAULT_HOST, DEFAULT_PORT
from worker.supervisor import parent_gone, supervise

log = structlog.get_logger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server with loop signal handlers that end in a clean exit (no re-raised signal).

    A supervised child (``parent_pid`` set) also drains and exits when its supervisor is gone, so a killed
    supervisor never leaves orphans serving the port.
    """

    def __init__(self, config: uvicorn.Config, parent_pid: int | None = None) -> None:
        super().__init__(config)
        self._parent_pid = parent_pid

    async def on_tick(self, counter: int) -> bool:
        if self._parent_pid is not None and not self.should_exit and parent_gone(self._parent_pid):
            log.warning("worker.orphaned", supervisor=self._parent_pid, action="graceful")
            self.should_exit = True
        return await super().on_tick(counter)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("worker.signal", signal=sig.name, action="force" if self.should_exit else "graceful")
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


def _tag_pid(_logger: object, _method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """Name the process on every line: supervised children share one log."""
    event.setdefault("pid", os.getpid())
    return event


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m worker", description="The test_queue webhook worker.")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"listen address (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"listen port (default {DEFAULT_PORT})")
    parser.add_argument("--concurrency", type=int, help="jobs run at once (default $WORKER_CONCURRENCY or 10)")
    parser.add_argument("--pull", action="store_true",
                        help="also poll get_next_job, for databases that cannot reach this worker")
    parser.add_argument("--processes", type=int, default=1,
                        help="worker processes sharing the port under a supervisor that restarts them (default 1)")
    parser.add_argument("--consume", metavar="QUEUE",
                        help="drain QUEUE continuously in batches (long poll) instead of serving webhooks")
    parser.add_argument("--batch", type=int, default=100, help="with --consume: messages per batch (default 100)")
    parser.add_argument("--vt", type=int, default=30,
                        help="with --consume: visibility timeout of a batch in seconds (default 30)")
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # a supervised child's inherited socket
    return parser


def _child_args(args: argparse.Namespace) -> list[str]:
    """The options a supervised child repeats; host and port only name the inherited socket in its logs."""
    extra = ["--concurrency", str(args.concurrency)] if args.concurrency is not None else []
    return ["--host", args.host, "--port", str(args.port), *extra, *(["--pull"] if args.pull else [])]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, check settings, serve; exit 2 on bad settings with a message saying which."""
    args = _parser().parse_args(argv)
    try:
        configure_logging(extra=[_tag_pid])
        config = load_config(concurrency=args.concurrency)
    except ConfigError as err:
        print(f"worker: {err}", file=sys.stderr)
        return 2
    if args.consume:
        return consume(str(config.supabase_url).rstrip("/"), config.service_role_key, args.consume, args.batch, args.vt)
    if args.processes < 1:
        print(f"worker: --processes must be at least 1, got {args.processes}", file=sys.stderr)
        return 2
    if args.processes > 1 and args.fd is None:
        return supervise(args.host, args.port, args.processes, _child_args(args), config.grace_seconds)
    supervisor = os.getppid() if args.fd is not None else None
    app = create_app(config, connect, forced_pull=args.pull, supervisor_pid=supervisor)
    # Deliveries come straight from pg_net, not through a proxy: no forwarded headers to honour.
    server = _Server(uvicorn.Config(app, host=args.host, port=args.port, access_log=False, log_level="warning",
                                    lifespan="on", proxy_headers=False), parent_pid=supervisor)
    sockets = [socket.socket(fileno=args.fd)] if args.fd is not None else None
    log.info("worker.listening", host=args.host, port=args.port, supervisor=supervisor)
    # uvicorn's own loop choice (uvloop): ``Server.serve`` alone would run on the default loop.
    with asyncio.Runner(loop_factory=auto_loop_factory()) as runner:
        runner.run(server.serve(sockets=sockets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
