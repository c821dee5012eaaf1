"""Logging for the embedded stack: the project's fields, format choice and variables, in the stack's own module.

The stack imports nothing of the project (it is a package of its own), so this repeats the small set-up of
``worker.logs``: ``timestamp``, ``level``, ``event``, ``logger`` and bound keys; ``LOG_FORMAT=console|json``
(console on a terminal, json elsewhere, e.g. the services' log file) and ``LOG_LEVEL``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import Processor


class _NamedLogger(structlog.WriteLogger):
    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def _logger_factory(*args: Any) -> _NamedLogger:
    return _NamedLogger(sys.stderr, str(args[0]) if args else "")


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    chosen = (os.environ.get(name) or default).strip()
    for option in allowed:
        if option.lower() == chosen.lower():
            return option
    raise SystemExit(f"{name} must be one of {', '.join(allowed)}, got {chosen!r}")


def configure_logging(default_level: str = "INFO", default_format: str | None = None) -> None:
    """Configure structlog and stdlib logging on stderr at ``$LOG_LEVEL`` in ``$LOG_FORMAT`` (else the defaults)."""
    tty = sys.stderr.isatty()
    level = _choice("LOG_LEVEL", default_level, ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    fmt = _choice("LOG_FORMAT", default_format or ("console" if tty else "json"), ("console", "json"))
    shared: list[Processor] = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                               structlog.stdlib.add_logger_name, structlog.processors.TimeStamper(fmt="iso", utc=True)]
    rendering: list[Processor] = (
        [structlog.dev.ConsoleRenderer(colors=tty, exception_formatter=structlog.dev.plain_traceback)]
        if fmt == "console" else [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()])
    structlog.configure(processors=[*shared, *rendering],
                        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
                        logger_factory=_logger_factory, cache_logger_on_first_use=True)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared, processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering]))
    logging.getLogger().handlers = [handler]
    logging.getLogger().setLevel(level)
