"""Pull mode: claim jobs with ``get_next_job`` when the database cannot (or did not lately) reach the worker."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from worker.config import WorkerConfig
from worker.runner import Runner

log = structlog.get_logger(__name__)


def should_pull(config: WorkerConfig, runner: Runner, forced: bool, now: float) -> bool:
    """Pull when asked to, or when no webhook arrived for ``pull_idle_seconds`` (0 turns that off)."""
    if forced:
        return True
    idle = config.pull_idle_seconds
    return idle > 0 and now - runner.last_delivery >= idle


async def pull_loop(config: WorkerConfig, runner: Runner, stop: asyncio.Event, forced: bool) -> None:
    """Claim jobs one by one while there are some, then wait ``pull_interval_seconds``; until ``stop`` is set."""
    log.info("pull.started", forced=forced, idle_seconds=config.pull_idle_seconds,
             interval_seconds=config.pull_interval_seconds)
    pulling = False
    while not stop.is_set():
        if should_pull(config, runner, forced, time.monotonic()):
            if not pulling:
                log.info("pull.active", reason="forced" if forced else "no webhook lately")
                pulling = True
            try:
                if await runner.pull_one():
                    continue
            except Exception as err:
                log.warning("pull.failed", error=str(err))
        elif pulling:
            log.info("pull.idle", reason="webhooks arrive again")
            pulling = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=config.pull_interval_seconds)
    log.info("pull.stopped")
