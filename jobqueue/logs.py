"""Logging for notebooks: the worker's one set-up, quieter by default.

A notebook calls ``jobqueue.configure_logging()`` in its first cell; importing ``jobqueue`` configures nothing.
In a notebook the package's step-by-step lines would land between the outputs a person reads, so only warnings
show unless ``LOG_LEVEL`` says otherwise, rendered for people unless ``LOG_FORMAT=json``.
"""

from __future__ import annotations

from worker.logs import configure_logging as _configure


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Configure logging for a notebook or script: ``level``/``$LOG_LEVEL`` (WARNING), ``fmt``/``$LOG_FORMAT``
    (console)."""
    _configure(level, fmt, default_level="WARNING", default_format="console")
