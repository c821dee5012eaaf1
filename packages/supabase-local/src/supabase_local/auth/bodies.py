"""Request bodies of the endpoints, read as GoTrue reads them (helpers.go ``retrieveRequestParams``): JSON into
typed fields, unknown fields ignored, ``null`` as the empty value, anything else that does not fit is 400
``bad_json``."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from supabase_local.auth import errors

MAX_BODY_BYTES = 1 << 20  # api.go limitRequestBody(1 << 20)
Body = TypeVar("Body", bound="Params")
_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "bool"}  # Go's words


class Params(BaseModel):
    """Strict types as Go's ``encoding/json`` has them; ``None`` for a field sent as null or left out."""

    model_config = ConfigDict(strict=True, extra="ignore")


class SignupParams(Params):
    email: str | None = None
    phone: str | None = None
    password: str | None = None
    data: dict[str, Any] | None = None


class PasswordGrantParams(Params):
    email: str | None = None
    phone: str | None = None
    password: str | None = None


class RefreshTokenGrantParams(Params):
    refresh_token: str | None = None


class UserUpdateParams(Params):
    email: str | None = None
    phone: str | None = None
    password: str | None = None
    data: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None


class AdminUserParams(Params):
    id: str | None = None
    email: str | None = None
    phone: str | None = None
    password: str | None = None
    email_confirm: bool | None = None
    phone_confirm: bool | None = None
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None
    role: str | None = None
    ban_duration: str | None = None


class AdminDeleteParams(Params):
    should_soft_delete: bool | None = None


def parse(model: type[Body], raw: bytes, empty_ok: bool = False) -> Body:
    """``raw`` read into ``model``; 413 past GoTrue's body limit, 400 ``bad_json`` for anything else amiss."""
    if len(raw) > MAX_BODY_BYTES:
        raise errors.AuthApiError(413, "request_entity_too_large",
                                  f"Request body too large (max {MAX_BODY_BYTES} bytes)")
    if not raw.strip() and empty_ok:
        return model()
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise errors.bad_request("bad_json", f"Could not parse request body as JSON: {error}") from error
    if value is None:
        return model()
    _check_storable(raw, value)
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), "value")
        raise errors.bad_request("bad_json", "Could not parse request body as JSON: json: cannot unmarshal "
                                             f"{kind} into Go value of type api.{model.__name__}")
    try:
        return model.model_validate(value)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise errors.bad_request("bad_json", f"Could not parse request body as JSON: {where}: {first['msg']}") \
            from error


def _check_storable(raw: bytes, value: object) -> None:
    """PostgreSQL stores neither NUL characters nor unpaired surrogates in text or jsonb; a body holding one is
    refused here as the client's fault instead of failing in the database."""
    if b"\\u0000" in raw or b"\x00" in raw:
        raise errors.bad_request("bad_json", "Could not parse request body as JSON: a string holds a NUL character")
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError as error:
        raise errors.bad_request("bad_json", "Could not parse request body as JSON: a string is not valid "
                                             "UTF-8 (unpaired surrogate)") from error
