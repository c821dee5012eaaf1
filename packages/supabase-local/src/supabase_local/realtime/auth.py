"""Who a Realtime client is: the claims of its JWT, checked with the stack's secret as Supabase does."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import jwt

from supabase_local.keys import verify


class AuthError(ValueError):
    """A missing, forged, malformed or expired token; the message says which."""


@dataclass(frozen=True)
class Auth:
    """The database role a subscriber acts as, the claims its RLS policies see and when the token expires."""

    role: str
    claims_json: str
    expires_at: float | None = field(default=None, compare=False)

    def seconds_left(self) -> float | None:
        """Seconds until the token expires (negative once it has), or None for a token without ``exp``."""
        return None if self.expires_at is None else self.expires_at - time.time()


def expired_message(expires_at: float) -> str:
    """The reason Supabase Realtime gives when a channel's token runs out."""
    return f"Token has expired {max(0, int(time.time() - expires_at))} seconds ago"


def _expiry(token: str) -> float:
    """The ``exp`` of a token whose signature was already found valid but whose time is up."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])


def authenticate(token: object, secret: str) -> Auth:
    """The role and claims of ``token``; raises AuthError with a reason fit for a join error."""
    if not isinstance(token, str) or not token:
        raise AuthError("Invalid JWT: no token given")
    try:
        claims = verify(token, secret)
    except jwt.ExpiredSignatureError as error:
        raise AuthError(expired_message(_expiry(token))) from error
    except jwt.PyJWTError as error:
        raise AuthError(f"Invalid JWT: {error}") from error
    role = claims.get("role")
    if not isinstance(role, str) or not role:
        raise AuthError("Invalid JWT: the role claim is missing")
    exp = claims.get("exp")
    expires_at = float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
    return Auth(role, json.dumps(claims, sort_keys=True, separators=(",", ":")), expires_at)
