"""Who a Realtime client is: the claims of its JWT, checked with the stack's secret as Supabase does."""

from __future__ import annotations

import json
from dataclasses import dataclass

import jwt

from supabase_local.keys import verify


class AuthError(ValueError):
    """A missing, forged, malformed or expired token; the message says which."""


@dataclass(frozen=True)
class Auth:
    """The database role a subscriber acts as and the claims its RLS policies see."""

    role: str
    claims_json: str


def authenticate(token: object, secret: str) -> Auth:
    """The role and claims of ``token``; raises AuthError with a reason fit for a join error."""
    if not isinstance(token, str) or not token:
        raise AuthError("Invalid JWT: no token given")
    try:
        claims = verify(token, secret)
    except jwt.ExpiredSignatureError as error:
        raise AuthError("Invalid JWT: token has expired") from error
    except jwt.PyJWTError as error:
        raise AuthError(f"Invalid JWT: {error}") from error
    role = claims.get("role")
    if not isinstance(role, str) or not role:
        raise AuthError("Invalid JWT: the role claim is missing")
    return Auth(role, json.dumps(claims, sort_keys=True, separators=(",", ":")))
