"""Run every ``bench_*.py`` in this folder in turn, each on its own throwaway stack.

    python bench/run_all.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> dict[str, object]:
    """Call each benchmark's ``main()`` with its small defaults; returns what each returned, by name."""
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    figures: dict[str, object] = {}
    for path in sorted(HERE.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        figures[path.stem] = module.main([])
    return figures


if __name__ == "__main__":
    main()
