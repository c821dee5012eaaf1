"""The worker's settings: ``WorkerConfig`` (what the code reads) and ``WorkerSettings`` (the same read from the
environment, then ``.env``, by pydantic-settings), checked before anything starts.

Every tuning knob is ``WORKER_<FIELD>``; the shared ones (project, secret, job timing, attempts) come from
``worker.settings`` with the names the notebooks use too.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.settings import Pattern, SettingsError, SharedSettings, WebhookKey, settings_error

ConfigError = SettingsError  # the name worker code has always caught


class WorkerConfig(SharedSettings):
    """Everything the worker needs: where the project is, how to verify deliveries, how jobs behave.

    Constructing it reads nothing from the environment (tests build it from values); ``load_config`` does.
    """

    webhook_key: WebhookKey = Field(validation_alias="WEBHOOK_SECRET")
    fail_pattern: Pattern | None = Field(None, validation_alias="JOB_FAIL_PATTERN")
    concurrency: int = Field(10, ge=1, validation_alias="WORKER_CONCURRENCY")
    max_backlog: int = Field(1000, ge=1, validation_alias="WORKER_MAX_BACKLOG")
    lease_seconds: int = Field(60, ge=1, validation_alias="WORKER_LEASE_SECONDS")
    retry_base_seconds: float = Field(2.0, ge=0, validation_alias="WORKER_RETRY_BASE_SECONDS")
    retry_max_seconds: float = Field(300.0, ge=0, validation_alias="WORKER_RETRY_MAX_SECONDS")
    pull_idle_seconds: float = Field(30.0, ge=0, validation_alias="WORKER_PULL_IDLE_SECONDS")
    pull_interval_seconds: float = Field(5.0, ge=0.05, validation_alias="WORKER_PULL_INTERVAL_SECONDS")
    grace_seconds: float = Field(30.0, ge=0, validation_alias="WORKER_GRACE_SECONDS")
    cancel_poll_seconds: float = Field(0.5, ge=0.05, validation_alias="WORKER_CANCEL_POLL_SECONDS")
    progress_interval_seconds: float = Field(0.25, ge=0, validation_alias="WORKER_PROGRESS_INTERVAL_SECONDS")
    tolerance_seconds: int = Field(300, ge=1, validation_alias="WORKER_TOLERANCE_SECONDS")
    max_body_bytes: int = Field(64 * 1024, ge=1024, validation_alias="WORKER_MAX_BODY_BYTES")


class WorkerSettings(BaseSettings, WorkerConfig):
    """``WorkerConfig`` read from the process environment, then ``.env`` (the environment wins)."""

    # Only the variables' names count (a field's own name, e.g. CONCURRENCY, is not a variable of the worker).
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", validate_by_name=False)


def load_config(concurrency: int | None = None, dotenv_path: Path | None = None) -> WorkerConfig:
    """The worker's settings (``concurrency`` overrides ``WORKER_CONCURRENCY``); every problem is one
    ``ConfigError`` naming the variable and the rule."""
    path = dotenv_path or Path.cwd() / ".env"
    given = {} if concurrency is None else {"WORKER_CONCURRENCY": concurrency}
    try:
        return WorkerSettings(_env_file=path, **given)  # type: ignore[call-arg]
    except ValidationError as err:
        raise settings_error(WorkerSettings, err, "put them in the environment or in .env") from None
