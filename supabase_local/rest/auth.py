"""Who a request is: the ``apikey`` and ``Authorization: Bearer`` JWTs, verified with the stack's secret.

As on Supabase, the bearer token decides the role and the ``apikey`` (also accepted as a query parameter)
stands in when no bearer token is sent. Failures answer with PostgREST's 401 bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from supabase_local.keys import verify
from supabase_local.rest.errors import RestError

ANON_ROLE = "anon"
# PostgREST's code and message for each way a token can fail, most specific first.
_JWT_ERRORS: tuple[tuple[type[jwt.PyJWTError], tuple[str, str]], ...] = (
    (jwt.ExpiredSignatureError, ("PGRST303", "JWT expired")),
    (jwt.ImmatureSignatureError, ("PGRST303", "JWT not yet valid")),
    (jwt.MissingRequiredClaimError, ("PGRST303", "Parsing claims failed")),
    (jwt.InvalidAlgorithmError, ("PGRST301", "Wrong or unsupported encoding algorithm")),
    (jwt.InvalidSignatureError, ("PGRST301", "JWT cryptographic operation failed")),
)
_UNDECODABLE = ("PGRST301", "JWT couldn't be decoded")


@dataclass(frozen=True)
class Identity:
    """The verified claims of a request and the database role it runs as."""

    role: str
    claims: Mapping[str, object]

    @property
    def authed(self) -> bool:
        """True for any role but anon; PostgREST answers 403 instead of 401 to such requests."""
        return self.role != ANON_ROLE


def _invalid(code: str, message: str) -> RestError:
    header = f'Bearer error="invalid_token", error_description="{message}"'
    return RestError(401, code, message, headers={"WWW-Authenticate": header})


def _decode(token: str, secret: str) -> dict[str, object]:
    if not token:
        raise _invalid("PGRST301", "Empty JWT is sent in Authorization header")
    parts = token.count(".") + 1
    if parts != 3:
        raise _invalid("PGRST301", f"Expected 3 parts in JWT; got {parts}")
    try:
        return verify(token, secret)
    except jwt.PyJWTError as err:
        code, message = next((found for kind, found in _JWT_ERRORS if isinstance(err, kind)), _UNDECODABLE)
        raise _invalid(code, message) from err


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None when the header is absent."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise _invalid("PGRST301", "JWT couldn't be decoded")
    return token.strip()


def authenticate(apikey: str | None, authorization: str | None, secret: str) -> Identity:
    """The identity of a request; raises a 401 RestError when no key is sent or a key does not verify."""
    token = bearer_token(authorization)
    if token is None and apikey is None:
        raise RestError(401, "PGRST302", "Anonymous access is disabled",
                        hint="No `apikey` request header or url param was found.",
                        headers={"WWW-Authenticate": "Bearer"})
    if apikey is not None and apikey != token:
        _decode(apikey, secret)
    claims = _decode(token if token is not None else apikey or "", secret)
    role = claims.get("role")
    if not isinstance(role, str) or not role:
        raise _invalid("PGRST303", "Parsing claims failed")
    return Identity(role=role, claims=claims)
