"""The job types this worker runs, one module each; ``default_registry()`` holds them all."""

from __future__ import annotations

from worker.tasks import echo, flaky, generate_report
from worker.tasks.context import TaskContext, TaskResult
from worker.tasks.registry import DEFAULT_JOB_TYPE, PayloadInvalid, TaskDefinition, TaskRegistry

__all__ = ["DEFAULT_JOB_TYPE", "PayloadInvalid", "TaskContext", "TaskDefinition", "TaskRegistry", "TaskResult",
           "default_registry"]


def default_registry() -> TaskRegistry:
    """A registry with every task of this package."""
    registry = TaskRegistry()
    for module in (echo, generate_report, flaky):
        module.register(registry)
    return registry
