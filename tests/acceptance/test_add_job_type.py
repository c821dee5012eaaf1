"""The README's steps to add a job type, followed as written on a copy of the project: the type's first job
completes on its first attempt.

The copy holds the folders the steps touch and read (``worker``, ``jobqueue``, ``supabase``); the commands are the
ones the README's section lists, run from the copy, against the session's stack.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from jobqueue import enqueue_job, load_settings, provision, wait_for_job_completion
from jobqueue.settings import PROJECT_ROOT, Settings
from supabase_local.state import STATE_DIR_ENV, free_port

pytestmark = pytest.mark.timeout(240)

SECTION = re.compile(r"### Add a job type\n(.*?)\n(?=#)", re.S)
COMMAND = re.compile(r"`\.venv/bin/python (-m [^`]+)`")
NEW_TASK = '''"""resize_image: pretends to resize an image."""

from __future__ import annotations

from pydantic import BaseModel, Field

from worker.tasks.context import TaskContext, TaskResult
from worker.tasks.registry import TaskRegistry


class ResizePayload(BaseModel):
    """The size to resize to."""

    width: int = Field(default=100, ge=1, le=4000)


def register(registry: TaskRegistry) -> None:
    """Add ``resize_image``."""

    @registry.task("resize_image", ResizePayload, description="Pretends to resize an image.")
    async def run(payload: ResizePayload, ctx: TaskContext) -> TaskResult:
        return TaskResult(f"resized to {payload.width}", {"width": payload.width})
'''


def readme_commands() -> list[list[str]]:
    """The shell commands of the README's "Add a job type" section, in order."""
    section = SECTION.search((PROJECT_ROOT / "README.md").read_text()).group(1)
    return [command.split() for command in COMMAND.findall(section)]


def copy_with_new_type(root: Path) -> Path:
    """Steps 1 and 2: the project copied, a module like ``echo.py`` added and listed in ``default_registry()``."""
    project = root / "project"
    for folder in ("worker", "jobqueue", "supabase"):
        shutil.copytree(PROJECT_ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "worker" / "tasks" / "resize_image.py").write_text(NEW_TASK)
    init = project / "worker" / "tasks" / "__init__.py"
    text = init.read_text()
    text = re.sub(r"from worker\.tasks import ([\w, ]+)\n", r"from worker.tasks import \1, resize_image\n", text,
                  count=1)
    text = re.sub(r"for module in \(([^)]*)\):", r"for module in (\1, resize_image):", text, count=1)
    assert text.count("resize_image") == 2, "default_registry() no longer lists its modules as the README says"
    init.write_text(text)
    return project


def test_a_job_type_added_by_the_readme_steps_completes_first_time(provisioned: Settings, stack_dir: Path,
                                                                   db: psycopg.Connection, tmp_path: Path):
    commands = readme_commands()
    assert [" ".join(c) for c in commands] == ["-m jobqueue provision", "-m jobqueue.worker_process stop",
                                               "-m jobqueue.worker_process start"]
    project = copy_with_new_type(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(project), STATE_DIR_ENV: str(stack_dir), "LOG_FORMAT": "console",
           "WORKER_URL": f"http://127.0.0.1:{free_port()}/hooks/work-queue", "JOB_MIN_SECONDS": "0",
           "JOB_MAX_SECONDS": "0.1"}
    try:
        for command in commands:
            done = subprocess.run([sys.executable, *command], cwd=project, env=env, capture_output=True, text=True,
                                  timeout=120, check=False)
            assert done.returncode == 0, f"{' '.join(command)}: {done.stdout}{done.stderr}"
        settings = load_settings({STATE_DIR_ENV: str(stack_dir)}, root=stack_dir)
        job = enqueue_job("resize_image", {"width": 640}, settings=settings)
        finished = wait_for_job_completion(job.job_id, timeout=60, settings=settings)
        assert (finished.status, finished.attempts, finished.output) == ("completed", 1, {"width": 640})
    finally:
        subprocess.run([sys.executable, "-m", "jobqueue.worker_process", "stop"], cwd=project, env=env,
                       capture_output=True, timeout=60, check=False)
        db.execute("delete from public.job_results where job_type = 'resize_image'")
        db.execute("delete from public.job_types where name = 'resize_image'")
        provision(provisioned)
