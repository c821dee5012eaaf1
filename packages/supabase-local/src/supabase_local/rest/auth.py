"""Who a request is: the ``apikey`` and ``Authorization: Bearer`` JWTs, verified with the stack's secret.

As on Supabase, the bearer token decides the role and the ``apikey`` (also accepted as a query parameter)
stands in when no bearer token is sent. Failures answer with PostgREST's 401 bodies.

Clients send the same few tokens with every request, so verified claims are kept by token until the token
expires (PostgREST caches them the same way, ``jwt-cache-max-lifetime``); a token that failed is never kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jwt

from supabase_local.keys import verify
from supabase_local.rest.errors import RestError

ANON_ROLE = "anon"
# PostgREST's code and message for each way a token can fail, most specific first.
_JWT_ERRORS: tuple[tuple[type[jwt.PyJWTError], tuple[str, str]], ...] = (
    (jwt.ExpiredSignatureError, ("PGRST303", "JWT expired")),
    (jwt.ImmatureSignatureError, ("PGRST303", "JWT not yet valid")),
    (jwt.MissingRequiredClaimError, ("PGRST303", "Parsing claims failed")),
    (jwt.InvalidAudienceError, ("PGRST303", "JWT not in audience")),
    (jwt.InvalidAlgorithmError, ("PGRST301", "Wrong or unsupported encoding algorithm")),
    (jwt.InvalidSignatureError, ("PGRST301", "JWT cryptographic operation failed")),
)
_UNDECODABLE = ("PGRST301", "JWT couldn't be decoded")
CACHE_SIZE = 1000


@dataclass(frozen=True)
class Identity:
    """The verified claims of a request and the database role it runs as."""

    role: str
    claims: Mapping[str, object]
    claims_json: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.claims_json:
            object.__setattr__(self, "claims_json", json.dumps(self.claims))

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


def _identity(token: str, secret: str) -> Identity:
    claims = _decode(token, secret)
    role = claims.get("role")
    if not isinstance(role, str) or not role:
        raise _invalid("PGRST303", "Parsing claims failed")
    return Identity(role=role, claims=claims)


class Authenticator:
    """Verifies request keys with one secret, keeping the identities of tokens that verified until they expire."""

    def __init__(self, secret: str, size: int = CACHE_SIZE, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.size = size
        self.clock = clock
        self._verified: dict[str, tuple[Identity, float]] = {}

    def __len__(self) -> int:
        """How many verified tokens are kept."""
        return len(self._verified)

    def _verify(self, token: str) -> Identity:
        found = self._verified.get(token)
        if found is not None and self.clock() < found[1]:
            return found[0]
        self._verified.pop(token, None)
        identity = _identity(token, self.secret)  # raises for a token that does not verify (now expired too)
        expires = identity.claims.get("exp")
        if isinstance(expires, int | float) and not isinstance(expires, bool):
            if len(self._verified) >= self.size:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (identity, float(expires))
        return identity

    def authenticate(self, apikey: str | None, authorization: str | None) -> Identity:
        """The identity of a request; raises a 401 RestError when no key is sent or a key does not verify."""
        token = bearer_token(authorization)
        if token is None and apikey is None:
            raise RestError(401, "PGRST302", "Anonymous access is disabled",
                            hint="No `apikey` request header or url param was found.",
                            headers={"WWW-Authenticate": "Bearer"})
        if apikey is not None and apikey != token:
            self._verify(apikey)
        return self._verify(token if token is not None else apikey or "")
