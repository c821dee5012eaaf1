"""Logging for the app package where nobody configured it (a notebook kernel, a script).

The package logs every step with structlog. In a notebook those lines land between the outputs a person
reads, so unless the host already configured structlog, only warnings are shown; ``LOG_LEVEL=INFO`` shows
every step again.
"""

from __future__ import annotations

import logging
import os

import structlog


def configure_default_logging() -> None:
    """Configure structlog at ``$LOG_LEVEL`` (default WARNING), unless the host program already did."""
    if structlog.is_configured():
        return
    level = logging.getLevelName(os.environ.get("LOG_LEVEL", "WARNING").upper())
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))
