"""``flaky``: fails with the probability its payload gives, to show retries, back-off and the dead-letter queue."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field

from worker.tasks.context import TaskContext, TaskResult
from worker.tasks.registry import TaskRegistry


class FlakyFailure(RuntimeError):
    """The simulated failure; the job is retried while attempts remain."""


class FlakyPayload(BaseModel):
    """The chance that one attempt fails."""

    model_config = ConfigDict(extra="forbid")
    failure_rate: float = Field(default=0.5, ge=0, le=1, description="probability that an attempt fails")


def register(registry: TaskRegistry) -> None:
    """Add ``flaky`` to the registry."""

    @registry.task("flaky", FlakyPayload,
                   description="Fails with the probability given in its payload, to show retries.")
    async def flaky(payload: FlakyPayload, ctx: TaskContext) -> TaskResult:
        await asyncio.sleep(ctx.work_seconds())
        roll = ctx.rng.random()
        if roll < payload.failure_rate:
            raise FlakyFailure(f"attempt {ctx.attempt} failed on purpose (rolled {roll:.2f} < {payload.failure_rate})")
        return TaskResult(f"Succeeded on attempt {ctx.attempt}", {"attempt": ctx.attempt, "roll": round(roll, 4)})
