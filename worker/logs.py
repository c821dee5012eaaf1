"""One logging set-up for the worker, the notebooks and the scripts: structlog, configured by entry points only.

Every line has ``timestamp``, ``level``, ``event`` and ``logger`` plus the keys bound to it, rendered one way for
people (``LOG_FORMAT=console``, the default on a terminal) and one for machines (``json``, the default otherwise).
Lines of other libraries (uvicorn, httpx, ...) go through the same renderer, at WARNING unless ``LOG_LEVEL`` asks
for more. ``supabase_local.logs`` repeats this for the embedded stack, which imports nothing of the project.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

from worker.settings import SettingsError

FORMATS = ("console", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _NamedLogger(structlog.WriteLogger):
    """A fast writer that knows the logger's name, for the ``logger`` field."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def _logger_factory(*args: Any) -> _NamedLogger:
    return _NamedLogger(sys.stderr, str(args[0]) if args else "")


def _choice(value: str | None, name: str, default: str, allowed: Sequence[str]) -> str:
    """``value``, else ``$name``, else ``default``, as spelled in ``allowed`` (any case is accepted)."""
    chosen = (value or os.environ.get(name) or default).strip()
    for option in allowed:
        if option.lower() == chosen.lower():
            return option
    raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {chosen!r}")


def configure_logging(level: str | None = None, fmt: str | None = None, *, default_level: str = "INFO",
                      default_format: str | None = None, extra: Sequence[Processor] = ()) -> None:
    """Configure structlog and stdlib logging on stderr: ``level`` or ``$LOG_LEVEL`` (else ``default_level``),
    ``fmt`` or ``$LOG_FORMAT`` (else ``default_format``, else console on a terminal and json elsewhere).
    ``extra`` processors add fields of the program's own (the worker's pid)."""
    tty = sys.stderr.isatty()
    chosen_level = _choice(level, "LOG_LEVEL", default_level, LEVELS)
    chosen_format = _choice(fmt, "LOG_FORMAT", default_format or ("console" if tty else "json"), FORMATS)
    numeric = logging.getLevelName(chosen_level)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *extra,
    ]
    rendering: list[Processor] = (
        [structlog.dev.ConsoleRenderer(colors=tty, exception_formatter=structlog.dev.plain_traceback)]
        if chosen_format == "console" else [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()])
    structlog.configure(
        processors=[*shared, *rendering],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared, processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering]))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric if numeric == logging.DEBUG else max(numeric, logging.WARNING))
