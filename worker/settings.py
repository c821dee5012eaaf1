"""The settings the worker and the notebooks share: one set of rules, defaults and names, checked once.

``jobqueue`` reuses what is here (it may import ``worker``; the worker imports nothing of ``jobqueue``). Each field
is read from the environment variable its ``validation_alias`` names; a bad value is a ``SettingsError`` naming
that variable and the rule, e.g. ``WORKER_CONCURRENCY must be an integer >= 1, got 'x'``.

The webhook secret has one rule for both sides: ``whsec_`` followed by the standard base64 of 24 to 64 key bytes,
the range the Standard Webhooks specification gives for the secrets it generates.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Annotated, Any, Self, TypeVar

import annotated_types
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
HOOK_PATH = "/hooks/work-queue"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_RULE = f"'{SECRET_PREFIX}' followed by the base64 of 24 to 64 key bytes"
_KEY_BYTES = range(24, 65)
_SECRET_NAMES = frozenset({"WEBHOOK_SECRET", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_ANON_KEY", "SUPABASE_DB_URL"})

M = TypeVar("M", bound=BaseModel)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and the rule it breaks."""


def hook_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """The URL of a worker's webhook endpoint (``WORKER_URL`` for a worker on this machine)."""
    return f"http://{host}:{port}{HOOK_PATH}"


def decode_secret(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_<base64>`` secret; ``SettingsError`` (never echoing it) when it breaks the rule."""
    encoded = secret.strip()
    if not encoded.startswith(SECRET_PREFIX):
        raise SettingsError(f"WEBHOOK_SECRET must be {SECRET_RULE}; it does not start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(encoded.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as err:
        raise SettingsError(f"WEBHOOK_SECRET must be {SECRET_RULE}; the part after {SECRET_PREFIX} is not base64") \
            from err
    if len(key) not in _KEY_BYTES:
        raise SettingsError(f"WEBHOOK_SECRET must be {SECRET_RULE}; it holds {len(key)} bytes")
    return key


def _key(value: Any) -> Any:
    """A configured secret becomes its key bytes by the one rule; key bytes given in code pass as they are."""
    if not isinstance(value, str):
        return value
    try:
        return decode_secret(value)
    except SettingsError as err:
        raise ValueError(str(err).removeprefix("WEBHOOK_SECRET must be ")) from None


def _secret(value: str) -> str:
    _key(value)
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("a URL starting with http:// or https://")
    return value.rstrip("/")


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as err:
        raise ValueError(f"a valid regular expression ({err})") from None
    return value


def _compiled(value: Any) -> Any:
    return re.compile(_regex(value)) if isinstance(value, str) else value


WebhookSecret = Annotated[str, AfterValidator(_secret)]
WebhookKey = Annotated[bytes, BeforeValidator(_key)]
Pattern = Annotated[re.Pattern[str], BeforeValidator(_compiled)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Regex = Annotated[str, AfterValidator(_regex)]
Required = Annotated[str, annotated_types.MinLen(1)]


class SharedSettings(BaseModel):
    """The project, job timing and attempts as both the worker and the notebooks read them.

    Built from a mapping of variables (``from_values``) or, in a subclass that also derives from
    pydantic-settings' ``BaseSettings``, from the process environment and ``.env``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_name=True, validate_by_alias=True,
                              str_strip_whitespace=True)

    supabase_url: HttpUrl = Field(validation_alias="SUPABASE_URL")
    service_role_key: Required = Field(validation_alias="SUPABASE_SERVICE_ROLE_KEY")
    job_min_seconds: float = Field(5.0, ge=0, validation_alias="JOB_MIN_SECONDS")
    job_max_seconds: float = Field(10.0, ge=0, validation_alias="JOB_MAX_SECONDS")
    max_attempts: int = Field(5, ge=1, validation_alias="MAX_ATTEMPTS")

    @model_validator(mode="after")
    def _job_range(self) -> Self:
        if self.job_max_seconds < self.job_min_seconds:
            raise ValueError(f"JOB_MAX_SECONDS ({self.job_max_seconds}) is below JOB_MIN_SECONDS "
                             f"({self.job_min_seconds})")
        return self


def _field(model: type[BaseModel], located: str) -> tuple[str, FieldInfo]:
    """The variable and the field an error is located at (pydantic names the alias it read, or the field)."""
    for name, info in model.model_fields.items():
        if located in (name, info.validation_alias):
            return (info.validation_alias if isinstance(info.validation_alias, str) else name.upper()), info
    raise KeyError(located)


def _rule(info: FieldInfo) -> str | None:
    """A number's rule as its field declares it: ``an integer >= 1``; None for other types."""
    kind = {int: "an integer", float: "a number"}.get(info.annotation)  # type: ignore[call-overload]
    if kind is None:
        return None
    bounds = [f">= {m.ge}" for m in info.metadata if isinstance(m, annotated_types.Ge)]
    bounds += [f"> {m.gt}" for m in info.metadata if isinstance(m, annotated_types.Gt)]
    return " ".join([kind, *bounds])


def describe(model: type[BaseModel], error: ErrorDetails) -> str:
    """One sentence for one pydantic error: the variable, the rule it breaks and (unless secret) the value."""
    if not error["loc"]:
        return str(error.get("ctx", {}).get("error", error["msg"]))
    name, info = _field(model, str(error["loc"][0]))
    if error["type"] in ("missing", "string_too_short"):
        return f"{name} is not set"
    custom = error["type"] == "value_error"
    rule = str(error["ctx"]["error"]) if custom else _rule(info) or f"valid ({error['msg']})"
    shown = "" if name in _SECRET_NAMES else f", got {error['input']!r}"
    return f"{name} must be {rule}{shown}"


def settings_error(model: type[BaseModel], err: ValidationError, where: str) -> SettingsError:
    """A ``SettingsError`` for a failed validation: every problem named, then where to set the values."""
    problems = [describe(model, error) for error in err.errors(include_url=False)]
    missing = [p.removesuffix(" is not set") for p in problems if p.endswith(" is not set")]
    others = [p for p in problems if not p.endswith(" is not set")]
    if missing:
        others.append(f"missing settings {', '.join(missing)}: {where}")
    return SettingsError("; ".join(others))


def from_values(model: type[M], values: Mapping[str, str], where: str) -> M:
    """Validate ``model`` from a mapping of variables (empty ones count as unset); ``where`` says where to set
    missing ones."""
    try:
        return model.model_validate({name: value for name, value in values.items() if value.strip()})
    except ValidationError as err:
        raise settings_error(model, err, where) from None
