"""A small in-memory stand-in for the job RPCs, used only at the edge of the worker's unit tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from worker.config import WorkerConfig

KEY = b"unit-test-webhook-key"


def make_config(**overrides: Any) -> WorkerConfig:
    values: dict[str, Any] = {
        "supabase_url": "http://127.0.0.1:1", "service_role_key": "service", "webhook_key": KEY,
        "job_min_seconds": 0.0, "job_max_seconds": 0.0, "retry_base_seconds": 2.0, "pull_idle_seconds": 0.0,
    }
    values.update(overrides)
    return WorkerConfig(**values)


@dataclass
class FakeRpc:
    """Claims succeed once per job unless ``refuse`` says otherwise; every call is recorded."""

    task_names: dict[str, str] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)
    dead_after: int = 99
    queue: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    active: int = 0
    peak: int = 0
    closed: bool = False

    def names(self, name: str) -> list[dict[str, Any]]:
        return [args for called, args in self.calls if called == name]

    async def __call__(self, name: str, args: dict[str, Any]) -> Any:
        """One request as it came over the wire; a batch is recorded in ``calls`` as its single-job calls."""
        self.requests.append((name, args))
        if name == "mark_jobs":
            claims = [{**claim, "lease_seconds": args["lease_seconds"]} for claim in args["claims"]]
            return [*(row for claim in claims for row in self._single("mark_job_processing", claim)),
                    *(row for done in args["completions"] for row in self._single("mark_job_completed", done))]
        return self._single(name, args)

    def _single(self, name: str, args: dict[str, Any]) -> Any:
        self.calls.append((name, args))
        if name == "mark_job_processing":
            if args["job_id"] in self.refuse:
                return []
            return [self._claim(args["job_id"], args["msg_id"])]
        if name == "get_next_job":
            if not self.queue:
                return []
            row = self.queue.pop(0)
            return [self._claim(row["job_id"], row["msg_id"], row["task_name"])]
        if name in ("extend_job_lease", "report_job_progress"):
            return True
        if name == "job_cancel_requests":
            return []
        self.active -= 1
        if name == "mark_job_completed":
            return [{"job_id": args["job_id"], "status": "completed"}]
        if name == "mark_job_failed":
            dead = self.attempts[args["job_id"]] >= min(self.dead_after, args["max_attempts"])
            return [{"job_id": args["job_id"], "status": "failed" if dead else "pending"}]
        raise AssertionError(f"unexpected rpc {name}")

    def _claim(self, job_id: str, msg_id: int, task_name: str = "") -> dict[str, Any]:
        self.attempts[job_id] = self.attempts.get(job_id, 0) + 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        return {"job_id": job_id, "msg_id": msg_id, "task_name": task_name or self.task_names.get(job_id, "report"),
                "attempts": self.attempts[job_id], "status": "processing"}

    async def close(self) -> None:
        self.closed = True


def new_job_id() -> str:
    return str(uuid.uuid4())
