"""Access tokens as Supabase Auth issues and checks them, and its legacy 12-character refresh tokens.

Claims follow internal/tokens/service.go (``AccessTokenClaims``): ``iss sub aud exp iat email phone app_metadata
user_metadata role aal amr session_id is_anonymous``, HS256 with the project's JWT secret. Incoming bearer tokens are
parsed as internal/api/auth.go ``parseJWTClaims`` does: signature and expiry only; callers check the rest.
"""

from __future__ import annotations

import secrets
import string
import time
import uuid
from dataclasses import dataclass

import jwt

from supabase_local.auth import errors
from supabase_local.keys import AUDIENCE

ACCESS_TOKEN_SECONDS = 3600  # GOTRUE_JWT_EXP's default
ADMIN_ROLES = ("service_role", "supabase_admin")  # GOTRUE_JWT_ADMIN_ROLES' default
REFRESH_TOKEN_ALPHABET = string.ascii_lowercase + string.digits
REFRESH_TOKEN_LENGTH = 12  # crypto.SecureAlphanumeric(12), matched by token_refresh.go's legacy pattern


@dataclass(frozen=True)
class Grant:
    """Who a new access token is for: the user's row as JSON-ready claims and the session it belongs to."""

    user_id: str
    role: str
    email: str
    phone: str
    app_metadata: dict[str, object]
    user_metadata: dict[str, object]
    is_anonymous: bool
    session_id: str
    method: str  # the amr method of the session's sign-in (password, anonymous), kept across refreshes
    authenticated_at: int


def new_refresh_token() -> str:
    return "".join(secrets.choice(REFRESH_TOKEN_ALPHABET) for _ in range(REFRESH_TOKEN_LENGTH))


def valid_refresh_token_shape(token: str) -> bool:
    """token_refresh.go ``Validate``: only 12 lowercase letters and digits are a refresh token this stack issues."""
    return len(token) == REFRESH_TOKEN_LENGTH and all(char in REFRESH_TOKEN_ALPHABET for char in token)


def sign_access_token(grant: Grant, secret: str, issuer: str, now: int | None = None) -> tuple[str, int]:
    """The signed access token and its expiry (unix seconds)."""
    issued = int(time.time()) if now is None else now
    expires = issued + ACCESS_TOKEN_SECONDS
    claims = {
        "iss": issuer, "sub": grant.user_id, "aud": AUDIENCE, "exp": expires, "iat": issued,
        "email": grant.email, "phone": grant.phone, "app_metadata": grant.app_metadata,
        "user_metadata": grant.user_metadata, "role": grant.role, "aal": "aal1",
        "amr": [{"method": grant.method, "timestamp": grant.authenticated_at}],
        "session_id": grant.session_id, "is_anonymous": grant.is_anonymous,
    }
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"}), expires


def bearer(authorization: str | None) -> str:
    """The token of ``Authorization: Bearer``; auth.go ``extractBearerToken``'s 401 when there is none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.AuthApiError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    return token.strip()


def parse(token: str, secret: str) -> dict[str, object]:
    """Verified claims; a forged, malformed or expired token is auth.go's 403 ``bad_jwt``."""
    try:
        return jwt.decode(token, secret, algorithms=["HS256"], options={"verify_aud": False})
    except jwt.PyJWTError as error:
        raise errors.forbidden("bad_jwt", f"invalid JWT: unable to parse or verify signature, {error}") from error


def require_admin(claims: dict[str, object]) -> None:
    """auth.go ``requireAdmin``: only the admin roles may use ``/admin``."""
    if claims.get("role") not in ADMIN_ROLES:
        raise errors.forbidden("not_admin", "User not allowed")


def subject(claims: dict[str, object]) -> uuid.UUID:
    """auth.go ``maybeLoadUserOrSession``: the ``sub`` claim as a UUID."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise errors.forbidden("bad_jwt", "invalid claim: missing sub claim")
    try:
        return uuid.UUID(sub)
    except ValueError as error:
        raise errors.bad_request("bad_jwt", "invalid claim: sub claim must be a UUID") from error


def session_claim(claims: dict[str, object]) -> uuid.UUID | None:
    """The ``session_id`` claim, None when absent or the nil UUID (as auth.go treats it)."""
    raw = claims.get("session_id")
    if raw in (None, "", str(uuid.UUID(int=0))):
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError as error:
        raise errors.forbidden("bad_jwt", "invalid claim: session_id claim must be a UUID") from error


def check_audience(claims: dict[str, object]) -> None:
    """user.go ``UserGet``: the token's audience must be this instance's."""
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if AUDIENCE not in audiences:
        raise errors.validation("Token audience doesn't match request audience")
