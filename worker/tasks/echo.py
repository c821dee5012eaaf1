"""``echo``, the PRD's task: work a few seconds (JOB_MIN_SECONDS..JOB_MAX_SECONDS), then say what was done."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field

from worker.tasks.context import TaskContext, TaskResult
from worker.tasks.registry import DEFAULT_JOB_TYPE, TaskRegistry


class EchoPayload(BaseModel):
    """An optional message to hand back."""

    model_config = ConfigDict(extra="forbid")
    message: str = Field(default="", max_length=1000, description="text returned in the output")


def register(registry: TaskRegistry) -> None:
    """Add ``echo`` to the registry: the default job type."""

    @registry.task(DEFAULT_JOB_TYPE, EchoPayload,
                   description="Waits a few seconds and returns a one-line result: the PRD's task.")
    async def echo(payload: EchoPayload, ctx: TaskContext) -> TaskResult:
        duration = ctx.work_seconds()
        await asyncio.sleep(duration)
        return TaskResult(f"Processed {ctx.task_name!r} (job {ctx.job_id}) in {duration:.2f}s",
                          {"message": payload.message, "duration_seconds": round(duration, 3)})
