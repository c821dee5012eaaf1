"""``generate_report``: a task of several steps that reports progress after each and returns a JSON report.

It stands in for the jobs-API seed's report generation: each section takes a share of the simulated work time.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field

from worker.tasks.context import TaskContext, TaskResult
from worker.tasks.registry import TaskRegistry


class ReportPayload(BaseModel):
    """What the report is about and how many sections it has."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(default="Weekly report", min_length=1, max_length=200)
    sections: int = Field(default=5, ge=1, le=20, description="steps, one progress update each")


def register(registry: TaskRegistry) -> None:
    """Add ``generate_report`` to the registry."""

    @registry.task("generate_report", ReportPayload, timeout_seconds=600,
                   description="Builds a report section by section, reporting progress; returns the report as JSON.")
    async def generate_report(payload: ReportPayload, ctx: TaskContext) -> TaskResult:
        step_seconds = ctx.work_seconds() / payload.sections
        sections = []
        for number in range(1, payload.sections + 1):
            done = round(100 * (number - 1) / payload.sections)
            ctx.progress(done, f"writing section {number} of {payload.sections}")
            await asyncio.sleep(step_seconds)
            sections.append({"heading": f"Section {number}", "words": ctx.rng.randint(120, 480)})
        words = sum(section["words"] for section in sections)
        ctx.progress(100, "report ready")
        return TaskResult(f"Report {payload.title!r}: {payload.sections} sections, {words} words",
                          {"title": payload.title, "sections": sections, "word_count": words})
