"""What every Auth endpoint shares: the pool, the secret, the limits, and the wrapper that turns GoTrue's errors
(and database refusals caused by the request) into answers, so no request's own fault becomes a 5xx."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from supabase_local.auth import errors, store, tokens
from supabase_local.auth.ratelimit import Limits

log = structlog.get_logger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
# github.com/badoux/checkmail's format check, which mail.go ``validateEmail`` uses.
_EMAIL = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")


@dataclass
class AuthContext:
    """The Auth service's shared parts."""

    pool: AsyncConnectionPool
    secret: str
    issuer: str
    limits: Limits
    reuse_interval: float = store.REUSE_INTERVAL_SECONDS

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection inside one transaction."""
        async with self.pool.connection() as conn, conn.transaction():
            yield conn

    def session_body(self, user: store.UserRow, issued: store.Issued) -> dict[str, Any]:
        """tokens.AccessTokenResponse: the access token, its lifetime, the refresh token and the user."""
        token, expires = tokens.sign_access_token(user.grant(issued.session_id, issued.method, issued.authenticated_at),
                                                  self.secret, self.issuer)
        return {"access_token": token, "token_type": "bearer", "expires_in": tokens.ACCESS_TOKEN_SECONDS,
                "expires_at": expires, "refresh_token": issued.refresh_token, "user": user.body}

    async def caller(self, request: Request, conn: psycopg.AsyncConnection) -> tuple[store.UserRow, uuid.UUID | None,
                                                                                     dict[str, object]]:
        """auth.go ``requireAuthentication``: the bearer token's user and session, both still existing."""
        claims = tokens.parse(tokens.bearer(request.headers.get("authorization")), self.secret)
        user_id = tokens.subject(claims)
        user = await store.user_by_id(conn, user_id)
        if user is None:
            raise errors.forbidden("user_not_found", "User from sub claim in JWT does not exist")
        session_id = tokens.session_claim(claims)
        if session_id is not None and not await store.session_exists(conn, session_id):
            raise errors.forbidden("session_not_found", "Session from session_id claim in JWT does not exist")
        if user.banned:
            raise errors.forbidden("user_banned", "User is banned")
        return user, session_id, claims

    def require_admin(self, request: Request) -> None:
        """``/admin``'s check (auth.go ``requireAdminCredentials``): a valid token with an admin role."""
        tokens.require_admin(tokens.parse(tokens.bearer(request.headers.get("authorization")), self.secret))


def client_address(request: Request) -> str:
    """The connection's peer; the gateway is the edge, so no header may claim another address."""
    return request.client.host if request.client is not None else "unknown"


def valid_email(email: str) -> str:
    """mail.go ``validateEmail``: present, at most 255 characters, well formed; lower-cased."""
    if not email:
        raise errors.validation("An email address is required")
    if len(email) > 255:
        raise errors.validation("An email address is too long")
    if not _EMAIL.match(email):
        raise errors.validation("Unable to validate email address: invalid format")
    return email.lower()


def answers(handler: Handler) -> Handler:
    """``handler`` with GoTrue's error answers: its own AuthApiErrors, and database refusals of what the request
    carried (a value PostgreSQL rejects, a duplicate that raced past a check) as 4xx instead of 500."""

    async def endpoint(request: Request) -> Response:
        version = request.headers.get(errors.API_VERSION_HEADER)
        try:
            response = await handler(request)
        except errors.AuthApiError as error:
            return error.response(version)
        except psycopg.errors.UniqueViolation:
            return errors.unprocessable("email_exists", errors.DUPLICATE_EMAIL).response(version)
        except psycopg.errors.DataError as error:
            message = error.diag.message_primary or "invalid value"
            return errors.validation(f"Invalid input: {message}").response(version)
        if errors.speaks_2024(version):
            response.headers[errors.API_VERSION_HEADER] = errors.API_VERSION_2024
        return response

    return endpoint


def ok(body: object) -> JSONResponse:
    return JSONResponse(body)
