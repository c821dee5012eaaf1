"""Pull mode: claim jobs with ``get_next_job`` when the database cannot (or did not lately) reach the worker, and
after the worker refused deliveries as busy, so that their jobs need not wait for the sweeper's quiet period."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from worker.config import WorkerConfig
from worker.runner import Runner

log = structlog.get_logger(__name__)


CATCH_UP_CHECK_SECONDS = 0.2
CATCHING_UP = "catching up after busy"


def should_pull(config: WorkerConfig, runner: Runner, forced: bool, now: float) -> bool:
    """Pull when asked to, once a backlog that refused deliveries has drained, or when no webhook arrived for
    ``pull_idle_seconds`` (0 turns that last reason off)."""
    if forced or (runner.owes_pull and runner.backlog_drained):
        return True
    idle = config.pull_idle_seconds
    return idle > 0 and now - runner.last_delivery >= idle


async def pull_loop(config: WorkerConfig, runner: Runner, stop: asyncio.Event, forced: bool) -> None:
    """Claim jobs one by one while there are some, then wait ``pull_interval_seconds``; until ``stop`` is set."""
    log.info("pull.started", forced=forced, idle_seconds=config.pull_idle_seconds,
             interval_seconds=config.pull_interval_seconds)
    pulling: str | None = None  # why the loop pulls now, or None
    while not stop.is_set():
        if should_pull(config, runner, forced, time.monotonic()):
            if pulling is None:
                pulling = "forced" if forced else CATCHING_UP if runner.owes_pull else "no webhook lately"
                log.info("pull.active", reason=pulling)
            try:
                if await runner.pull_one():
                    continue
                runner.owes_pull = False  # nothing visible is left to catch up on
            except Exception as err:
                log.warning("pull.failed", error=str(err))
        elif pulling is not None:
            log.info("pull.idle", reason="caught up" if pulling == CATCHING_UP else "webhooks arrive again")
            pulling = None
        wait = CATCH_UP_CHECK_SECONDS if runner.owes_pull else config.pull_interval_seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
    log.info("pull.stopped")
