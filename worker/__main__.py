"""``python -m worker [--host --port --concurrency --pull]``: serve the webhook until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator

import structlog
import uvicorn

from worker.app import create_app
from worker.config import DEFAULT_HOST, DEFAULT_PORT, ConfigError, load_config
from worker.db import connect
from worker.logs import configure_logging

log = structlog.get_logger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server with loop signal handlers that end in a clean exit (no re-raised signal)."""

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m worker", description="The test_queue webhook worker.")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"listen address (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"listen port (default {DEFAULT_PORT})")
    parser.add_argument("--concurrency", type=int, help="jobs run at once (default $WORKER_CONCURRENCY or 10)")
    parser.add_argument("--pull", action="store_true",
                        help="also poll get_next_job, for databases that cannot reach this worker")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, check settings, serve; exit 2 on bad settings with a message saying which."""
    args = _parser().parse_args(argv)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    try:
        config = load_config(concurrency=args.concurrency)
    except ConfigError as err:
        print(f"worker: {err}", file=sys.stderr)
        return 2
    app = create_app(config, connect, forced_pull=args.pull)
    server = _Server(uvicorn.Config(app, host=args.host, port=args.port, access_log=False, log_level="warning",
                                    lifespan="on"))
    log.info("worker.listening", host=args.host, port=args.port)
    asyncio.run(server.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
