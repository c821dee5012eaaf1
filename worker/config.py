"""The worker's settings, read from the environment (and ``.env``) and checked before anything starts."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format prefix, not a secret)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787

T = TypeVar("T", int, float)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it and says what is expected."""


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker needs: where the project is, how to verify deliveries, how jobs behave."""

    supabase_url: str
    service_role_key: str
    webhook_key: bytes
    job_min_seconds: float = 5.0
    job_max_seconds: float = 10.0
    max_attempts: int = 5
    fail_pattern: re.Pattern[str] | None = None
    concurrency: int = 10
    max_backlog: int = 1000
    lease_seconds: int = 60
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    pull_idle_seconds: float = 30.0
    pull_interval_seconds: float = 5.0
    grace_seconds: float = 30.0
    cancel_poll_seconds: float = 0.5
    progress_interval_seconds: float = 0.25
    tolerance_seconds: int = 300
    max_body_bytes: int = 64 * 1024


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64 part after ``whsec_`` (the prefix is optional)."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ConfigError("WEBHOOK_SECRET must be 'whsec_' followed by base64 key bytes") from err
    if not key:
        raise ConfigError("WEBHOOK_SECRET holds an empty key")
    return key


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], T], default: T, minimum: T) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError as err:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from err
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set; put it in the environment or in .env")
    return value


def _pattern(env: Mapping[str, str]) -> re.Pattern[str] | None:
    raw = env.get("JOB_FAIL_PATTERN", "")
    if not raw:
        return None
    try:
        return re.compile(raw)
    except re.error as err:
        raise ConfigError(f"JOB_FAIL_PATTERN is not a valid regular expression: {err}") from err


def config_from_env(env: Mapping[str, str], concurrency: int | None = None) -> WorkerConfig:
    """Build and validate the settings from a mapping of variables; every problem is a ``ConfigError``."""
    url = _required(env, "SUPABASE_URL")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"SUPABASE_URL must start with http:// or https://, got {url!r}")
    job_min = _number(env, "JOB_MIN_SECONDS", float, 5.0, 0.0)
    job_max = _number(env, "JOB_MAX_SECONDS", float, max(10.0, job_min), 0.0)
    if job_max < job_min:
        raise ConfigError(f"JOB_MAX_SECONDS ({job_max}) is below JOB_MIN_SECONDS ({job_min})")
    chosen_concurrency = concurrency if concurrency is not None else _number(env, "WORKER_CONCURRENCY", int, 10, 1)
    if chosen_concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {chosen_concurrency}")
    return WorkerConfig(
        supabase_url=url.rstrip("/"),
        service_role_key=_required(env, "SUPABASE_SERVICE_ROLE_KEY"),
        webhook_key=decode_secret(_required(env, "WEBHOOK_SECRET")),
        job_min_seconds=job_min,
        job_max_seconds=job_max,
        max_attempts=_number(env, "MAX_ATTEMPTS", int, 5, 1),
        fail_pattern=_pattern(env),
        concurrency=chosen_concurrency,
        max_backlog=_number(env, "WORKER_MAX_BACKLOG", int, 1000, 1),
        lease_seconds=_number(env, "WORKER_LEASE_SECONDS", int, 60, 1),
        retry_base_seconds=_number(env, "WORKER_RETRY_BASE_SECONDS", float, 2.0, 0.0),
        retry_max_seconds=_number(env, "WORKER_RETRY_MAX_SECONDS", float, 300.0, 0.0),
        pull_idle_seconds=_number(env, "WORKER_PULL_IDLE_SECONDS", float, 30.0, 0.0),
        pull_interval_seconds=_number(env, "WORKER_PULL_INTERVAL_SECONDS", float, 5.0, 0.05),
        grace_seconds=_number(env, "WORKER_GRACE_SECONDS", float, 30.0, 0.0),
        cancel_poll_seconds=_number(env, "WORKER_CANCEL_POLL_SECONDS", float, 0.5, 0.05),
        progress_interval_seconds=_number(env, "WORKER_PROGRESS_INTERVAL_SECONDS", float, 0.25, 0.0),
    )


def load_config(concurrency: int | None = None, dotenv_path: Path | None = None) -> WorkerConfig:
    """Settings from the process environment, falling back to ``.env`` (the environment wins)."""
    path = dotenv_path or Path.cwd() / ".env"
    from_file = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.is_file() else {}
    return config_from_env({**from_file, **os.environ}, concurrency=concurrency)
