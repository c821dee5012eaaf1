"""The task registry: which Python function runs each job type, with its payload model and its defaults.

A task is registered under a job type name with a pydantic payload model. The model validates a job's payload
before the task runs, and its JSON Schema is what provisioning writes to ``job_types.payload_schema``, so the
database refuses a bad payload at submit time by the same rule.

``DEFAULT_JOB_TYPE`` is the type of a job submitted without one (the PRD's ``submit_job(task_name)``); the
worker names it nowhere else. The schema's own default (``job_results.job_type``, ``submit_job``) must agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from worker.tasks.context import TaskContext, TaskResult

P = TypeVar("P", bound=BaseModel)
TaskFunction = Callable[[P, TaskContext], Awaitable[TaskResult]]

DEFAULT_JOB_TYPE = "echo"


class PayloadInvalid(ValueError):
    """A payload does not fit its job type's model; the message names each bad field."""


@dataclass(frozen=True)
class TaskDefinition(Generic[P]):
    """One job type: its name, what it does, its payload model, its defaults and the function that runs it."""

    name: str
    description: str
    payload_model: type[P]
    run: TaskFunction[P]
    priority: int = 0
    max_attempts: int | None = None
    timeout_seconds: int = 300

    def parse(self, payload: Any) -> P:
        """The payload as the task's model; ``PayloadInvalid`` names every field that does not fit."""
        try:
            return self.payload_model.model_validate(payload if payload is not None else {})
        except ValidationError as err:
            problems = "; ".join(f"payload.{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
                                 for error in err.errors())
            raise PayloadInvalid(f"payload does not fit job type {self.name!r}: {problems}") from err

    def job_type_row(self) -> dict[str, Any]:
        """The ``job_types`` row provisioning writes for this task."""
        return {"name": self.name, "description": self.description, "priority": self.priority,
                "max_attempts": self.max_attempts, "timeout_seconds": self.timeout_seconds,
                "payload_schema": self.payload_model.model_json_schema()}


class TaskRegistry:
    """Job type name → task definition; a name is registered once."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskDefinition[Any]] = {}

    def __iter__(self) -> Iterator[TaskDefinition[Any]]:
        return iter(self._tasks.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def names(self) -> list[str]:
        """The registered job types, sorted: what this worker serves."""
        return sorted(self._tasks)

    def get(self, name: str) -> TaskDefinition[Any] | None:
        """The task for a job type, or None when this worker has none."""
        return self._tasks.get(name)

    def task(self, name: str, payload: type[P], *, description: str, priority: int = 0,
             max_attempts: int | None = None, timeout_seconds: int = 300,
             ) -> Callable[[TaskFunction[P]], TaskFunction[P]]:
        """Decorator: register ``run(payload, ctx) -> TaskResult`` as the task of job type ``name``."""

        def register(run: TaskFunction[P]) -> TaskFunction[P]:
            if name in self._tasks:
                raise ValueError(f"job type {name!r} is registered twice")
            self._tasks[name] = TaskDefinition(name, description, payload, run, priority, max_attempts,
                                               timeout_seconds)
            return run

        return register

    def job_type_rows(self) -> list[dict[str, Any]]:
        """Every task as a ``job_types`` row, in name order."""
        return [self._tasks[name].job_type_row() for name in self.names()]
