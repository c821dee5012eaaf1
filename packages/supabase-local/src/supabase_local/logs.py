"""Structured logging for the stack: one JSON object a line, so a log can be read and grepped."""

from __future__ import annotations

import logging
import os
import sys

import structlog


def configure_logging(level: str | None = None, for_people: bool = False) -> None:
    """Send structlog and stdlib logging to stderr at ``level`` (default ``$LOG_LEVEL`` or INFO).

    Services write JSON lines (their logs are read by tools); the CLI writes plain ``key=value`` lines for
    the person at the terminal.
    """
    chosen = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    renderer = (structlog.dev.ConsoleRenderer(colors=False) if for_people
                else structlog.processors.JSONRenderer())
    logging.basicConfig(stream=sys.stderr, level=chosen, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(chosen)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
