"""GoTrue's error answers (github.com/supabase/auth internal/api/errors.go, apierrors/errorcode.go).

A client that sends ``X-Supabase-Api-Version: 2024-01-01`` (every supabase client does) gets
``{"code": <error_code>, "message": ...}`` and the version echoed; older clients get ``{"code": <status>,
"error_code": ..., "msg": ...}``. Both carry ``x-sb-error-code``.
"""

from __future__ import annotations

import re

from starlette.responses import JSONResponse

API_VERSION_HEADER = "x-supabase-api-version"
API_VERSION_2024 = "2024-01-01"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def speaks_2024(api_version: str | None) -> bool:
    """apiversions.go: a well-formed version from 2024-01-01 on gets the newer shape; none or a malformed one the
    initial shape."""
    return api_version is not None and _DATE.fullmatch(api_version) is not None and api_version >= API_VERSION_2024


class AuthApiError(Exception):
    """One failure as GoTrue reports it: HTTP status, ``error_code`` and message."""

    def __init__(self, status: int, code: str, message: str, extra: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}

    def response(self, api_version: str | None) -> JSONResponse:
        """The answer for a client that sent ``api_version`` (None when it sent no version header)."""
        headers = {"x-sb-error-code": self.code}
        if speaks_2024(api_version):
            headers[API_VERSION_HEADER] = API_VERSION_2024
            body: dict[str, object] = {"code": self.code, "message": self.message}
        else:
            body = {"code": self.status, "error_code": self.code, "msg": self.message}
        return JSONResponse({**body, **self.extra}, status_code=self.status, headers=headers)


def bad_request(code: str, message: str) -> AuthApiError:
    return AuthApiError(400, code, message)


def validation(message: str) -> AuthApiError:
    """``validation_failed`` with 400, GoTrue's answer to most malformed parameters."""
    return AuthApiError(400, "validation_failed", message)


def unprocessable(code: str, message: str) -> AuthApiError:
    return AuthApiError(422, code, message)


def forbidden(code: str, message: str) -> AuthApiError:
    return AuthApiError(403, code, message)


def not_found(code: str, message: str) -> AuthApiError:
    return AuthApiError(404, code, message)


def weak_password(message: str, reasons: list[str]) -> AuthApiError:
    """internal/api/password.go: 422 ``weak_password`` with the reasons beside the message."""
    return AuthApiError(422, "weak_password", message, {"weak_password": {"reasons": reasons}})


INVALID_LOGIN = "Invalid login credentials"  # internal/api/token.go InvalidLoginMessage
DUPLICATE_EMAIL = "A user with this email address has already been registered"  # internal/api/errors.go
