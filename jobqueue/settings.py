"""Where the project's settings come from: the process environment, then ``.env``, then the local stack.

The embedded stack is used when no ``SUPABASE_URL`` is configured, or when ``SUPABASE_URL`` is that stack's
own gateway URL (as after ``eval $(python -m supabase_local status -o env)``); its values are read from the
state it saved on ``start``, and the webhook secret is derived from its JWT secret so that the database and
the worker agree on it without anyone copying it around. A hosted project's database cannot reach this
machine's loopback, so there a loopback ``WORKER_URL`` (the default) is refused instead of stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from supabase_local.state import STATE_DIR_ENV, load_state

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKER_URL = "http://127.0.0.1:8787/hooks/work-queue"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_WEBHOOK_KEY_LABEL = b"test_queue webhook"
_REQUIRED = ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_DB_URL", "WEBHOOK_SECRET")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and says where to set it."""


@dataclass(frozen=True)
class Settings:
    """Everything the notebooks, provisioning and the jobs API need to reach one Supabase project."""

    supabase_url: str
    anon_key: str
    service_role_key: str
    db_url: str
    webhook_secret: str
    worker_url: str = DEFAULT_WORKER_URL
    job_min_seconds: float = 5.0
    job_max_seconds: float = 10.0
    max_attempts: int = 5
    job_fail_pattern: str | None = None
    local_stack_dir: Path | None = None

    @property
    def embedded(self) -> bool:
        """True when these settings point at the embedded local stack."""
        return self.local_stack_dir is not None


def derive_webhook_secret(jwt_secret: str) -> str:
    """The embedded stack's Standard Webhooks secret, derived from its JWT secret so every part agrees."""
    key = hmac.new(jwt_secret.encode(), _WEBHOOK_KEY_LABEL, hashlib.sha256).digest()
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(key).decode()


def webhook_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_<base64>`` secret; SettingsError when the secret is not of that shape."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise SettingsError("WEBHOOK_SECRET must look like whsec_<base64 key>, as Standard Webhooks secrets do")
    try:
        key = base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX):], validate=True)
    except ValueError as err:
        raise SettingsError(f"WEBHOOK_SECRET is not valid base64 after whsec_: {err}") from err
    if len(key) < 16:
        raise SettingsError("WEBHOOK_SECRET holds a key shorter than 16 bytes; use at least 32 random bytes")
    return key


def configured(environ: Mapping[str, str] | None = None, root: Path | None = None) -> dict[str, str]:
    """The variables set in the environment or in ``.env`` (the environment wins); nothing from the stack."""
    env_file = (root or PROJECT_ROOT) / ".env"
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if env_file.exists() else {}
    return {**from_file, **(os.environ if environ is None else environ)}


def local_stack_dir(values: Mapping[str, str], root: Path | None = None) -> Path:
    """The embedded stack's state directory: ``$SUPABASE_LOCAL_DIR`` or ``.supabase_local`` in the project."""
    chosen = values.get(STATE_DIR_ENV)
    return Path(chosen).expanduser().resolve() if chosen else (root or PROJECT_ROOT) / ".supabase_local"


def _stack_values(directory: Path) -> dict[str, str]:
    state = load_state(directory)
    if state is None:
        return {}
    return {**state.env(), "WEBHOOK_SECRET": derive_webhook_secret(state.jwt_secret)}


def embedded_stack_dir(values: Mapping[str, str], root: Path | None = None) -> Path | None:
    """The embedded stack's directory when the settings point at it (no ``SUPABASE_URL``, or that stack's
    own URL), else None: a hosted project."""
    directory = local_stack_dir(values, root)
    url = values.get("SUPABASE_URL")
    if not url:
        return directory
    state = load_state(directory)
    return directory if state is not None and url.rstrip("/") == state.supabase_url else None


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _worker_url(values: Mapping[str, str], embedded: bool) -> str:
    url = values.get("WORKER_URL") or DEFAULT_WORKER_URL
    if not embedded and _is_loopback(url):
        where = "WORKER_URL is not set, so it defaults to" if not values.get("WORKER_URL") else "WORKER_URL is"
        raise SettingsError(f"{where} {url}, a loopback address that the hosted project's database cannot reach: "
                            "set WORKER_URL to a public or tunnelled URL of the worker's /hooks/work-queue "
                            "(see README, 'On a hosted Supabase project')")
    return url


def _number(values: Mapping[str, str], name: str, default: float, kind: type[float] | type[int]) -> float:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    try:
        number = kind(raw)
    except ValueError as err:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from err
    if number < 0:
        raise SettingsError(f"{name}={raw!r} must not be negative")
    return number


def load_settings(environ: Mapping[str, str] | None = None, root: Path | None = None) -> Settings:
    """Resolve the settings (environment, ``.env``, running local stack) or say plainly what is missing."""
    values = configured(environ, root)
    stack_dir = embedded_stack_dir(values, root)
    if stack_dir is not None:
        values = {**_stack_values(stack_dir), **values}
    missing = [name for name in _REQUIRED if not values.get(name)]
    if missing:
        where = (f"start the embedded stack (python -m supabase_local start, state in {stack_dir})"
                 if stack_dir else "set them in the environment or in .env")
        raise SettingsError(f"missing settings {', '.join(missing)}: {where}")
    webhook_key(values["WEBHOOK_SECRET"])
    min_seconds = _number(values, "JOB_MIN_SECONDS", 5.0, float)
    max_seconds = _number(values, "JOB_MAX_SECONDS", 10.0, float)
    if max_seconds < min_seconds:
        raise SettingsError(f"JOB_MAX_SECONDS ({max_seconds}) is below JOB_MIN_SECONDS ({min_seconds})")
    attempts = int(_number(values, "MAX_ATTEMPTS", 5, int))
    if attempts < 1:
        raise SettingsError("MAX_ATTEMPTS must be at least 1")
    return Settings(
        supabase_url=values["SUPABASE_URL"],
        anon_key=values["SUPABASE_ANON_KEY"],
        service_role_key=values["SUPABASE_SERVICE_ROLE_KEY"],
        db_url=values["SUPABASE_DB_URL"],
        webhook_secret=values["WEBHOOK_SECRET"],
        worker_url=_worker_url(values, embedded=stack_dir is not None),
        job_min_seconds=min_seconds,
        job_max_seconds=max_seconds,
        max_attempts=attempts,
        job_fail_pattern=values.get("JOB_FAIL_PATTERN") or None,
        local_stack_dir=stack_dir,
    )
