"""The stack's JWT secret and the HS256 ``anon`` and ``service_role`` keys signed with it, as Supabase issues them."""

from __future__ import annotations

import secrets
import time

import jwt

ISSUER = "supabase-local"
# The audience of user access tokens (Supabase Auth's GOTRUE_JWT_AUD). The project's API keys carry no ``aud``.
AUDIENCE = "authenticated"
TEN_YEARS = 10 * 365 * 24 * 3600


def new_secret() -> str:
    """A fresh random secret (at least 32 characters, as Supabase requires)."""
    return secrets.token_urlsafe(48)


def sign_role_key(secret: str, role: str, lifetime_seconds: int = TEN_YEARS) -> str:
    """A long-lived API key for ``role``, shaped like Supabase's project keys."""
    now = int(time.time())
    claims = {"iss": ISSUER, "role": role, "iat": now, "exp": now + lifetime_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(token: str, secret: str) -> dict[str, object]:
    """The claims of a valid token; raises ``jwt.PyJWTError`` when it is forged, malformed or expired, or names an
    audience other than ``AUDIENCE`` (PostgREST's ``jwt-aud`` rule: a token without ``aud`` passes, one with
    another audience does not)."""
    claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["role"], "verify_aud": False})
    if "aud" in claims:
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if AUDIENCE not in audiences:
            raise jwt.InvalidAudienceError("JWT not in audience")
    return claims
