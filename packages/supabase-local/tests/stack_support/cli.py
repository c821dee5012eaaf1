"""Run the stack's CLI as a user would, and stacks of a test's own (for tests that stop or break them)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def run_cli(state_dir: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run ``python -m supabase_local --dir state_dir ARGS`` and capture its output."""
    return subprocess.run([sys.executable, "-m", "supabase_local", "--dir", str(state_dir), *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


@contextmanager
def running_stack() -> Iterator[Path]:
    """A stack started by the CLI in a new temporary directory; stopped and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="supabase-local-test-") as tmp:
        directory = Path(tmp)
        started = run_cli(directory, "start")
        assert started.returncode == 0, started.stderr
        try:
            yield directory
        finally:
            run_cli(directory, "stop")
