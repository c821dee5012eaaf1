"""The worker's log as people read it: console lines ``<time> [<level>] <event> [<logger>] key=value ...``."""

from __future__ import annotations

import re


def event_lines(log: str, event: str, **fields: object) -> list[str]:
    """The lines of ``log`` that record ``event`` with each ``key=value`` of ``fields``."""
    start = re.compile(rf"^\S+ \[\w+\s*\] {re.escape(event)}\s")
    wanted = [re.compile(rf"\s{re.escape(key)}={re.escape(str(value))}(\s|$)") for key, value in fields.items()]
    return [line for line in log.splitlines() if start.search(line) and all(w.search(line) for w in wanted)]
