"""Pull mode: claim jobs with ``get_next_job`` when the database cannot (or did not lately) reach the worker, and
after the worker refused deliveries as busy, so that their jobs need not wait for the sweeper's quiet period.

``PullPolicy`` decides when and how much; ``pull_loop`` does the pulling through ``Runner.pull_one``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

import structlog

from worker.config import WorkerConfig

log = structlog.get_logger(__name__)


class Puller(Protocol):
    """What the pull loop needs of a runner (the runner composes a policy, so the policy's module cannot import it)."""

    pulls: PullPolicy

    @property
    def backlog_drained(self) -> bool:
        """True when no delivery waits for a slot."""
        ...

    async def pull_one(self) -> bool:
        """Claim and start the next visible job; False when there was none."""
        ...

CATCH_UP_CHECK_SECONDS = 0.2
FORCED = "forced"
CATCHING_UP = "catching up after busy"
QUIET = "no webhook lately"


class PullPolicy:
    """When to pull and how much.

    When: always if ``forced`` (``--pull``: the database cannot reach this worker), once a backlog that refused
    deliveries as busy has drained, or when no webhook came for ``idle_seconds`` (0 turns that last reason
    off). How much: one job per free slot, back to back while jobs are visible, the pull waiting behind every
    delivery for its slot; then a pause of ``interval_seconds``, or a short check while a catch-up is owed.
    """

    def __init__(self, idle_seconds: float, interval_seconds: float, forced: bool = False) -> None:
        self.idle_seconds = idle_seconds
        self.interval_seconds = interval_seconds
        self.forced = forced
        self.last_delivery = time.monotonic()
        self.owed = False  # a delivery was refused as busy: pull its message once the backlog drains

    @classmethod
    def of(cls, config: WorkerConfig, forced: bool = False) -> PullPolicy:
        """The policy the worker's settings describe."""
        return cls(config.pull_idle_seconds, config.pull_interval_seconds, forced)

    def refused_busy(self) -> None:
        """A delivery was refused because the backlog is full: its job is owed a pull."""
        self.owed = True

    def caught_up(self) -> None:
        """A pull found nothing visible: nothing is left to catch up on."""
        self.owed = False

    def reason(self, now: float, backlog_drained: bool) -> str | None:
        """Why to pull now (monotonic ``now``), or None to wait."""
        if self.forced:
            return FORCED
        if self.owed and backlog_drained:
            return CATCHING_UP
        if self.idle_seconds > 0 and now - self.last_delivery >= self.idle_seconds:
            return QUIET
        return None

    def pause_seconds(self) -> float:
        """How long to wait before asking ``reason`` again when there is nothing to pull."""
        return CATCH_UP_CHECK_SECONDS if self.owed else self.interval_seconds


async def pull_loop(runner: Puller, stop: asyncio.Event) -> None:
    """Claim jobs one by one while the policy says so and there are some, then pause; until ``stop`` is set."""
    policy = runner.pulls
    log.info("pull.started", forced=policy.forced, idle_seconds=policy.idle_seconds,
             interval_seconds=policy.interval_seconds)
    pulling: str | None = None  # why the loop pulls now, or None
    while not stop.is_set():
        reason = policy.reason(time.monotonic(), runner.backlog_drained)
        if reason is not None:
            if pulling is None:
                pulling = reason
                log.info("pull.active", reason=pulling)
            try:
                if await runner.pull_one():
                    continue
                policy.caught_up()
            except Exception as err:
                log.warning("pull.failed", error=str(err))
        elif pulling is not None:
            log.info("pull.idle", reason="caught up" if pulling == CATCHING_UP else "webhooks arrive again")
            pulling = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=policy.pause_seconds())
    log.info("pull.stopped")
