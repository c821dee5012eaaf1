"""Helpers for Auth tests: fresh emails, raw calls to ``/auth/v1`` and tokens signed like the Auth service's."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt

from supabase_local.state import StackState

API_VERSION = {"X-Supabase-Api-Version": "2024-01-01"}


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def auth_call(stack: StackState, method: str, path: str, token: str | None = None, source: str | None = None,
              extra_headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    """One request to ``/auth/v1/<path>`` with the anon key (and ``token`` as the bearer), from the loopback
    address ``source`` when given (each address has its own rate-limit buckets)."""
    headers = {"apikey": stack.anon_key, "Authorization": f"Bearer {token or stack.anon_key}", **API_VERSION,
               **(extra_headers or {})}
    transport = httpx.HTTPTransport(local_address=source) if source else None
    with httpx.Client(base_url=f"{stack.supabase_url}/auth/v1", transport=transport, timeout=30) as client:
        return client.request(method, f"/{path}", headers=headers, **kwargs)


def user_token(stack: StackState, secret: str | None = None, **overrides: object) -> str:
    """An access token shaped like the Auth service's for a random user, with ``overrides`` applied."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": str(uuid.uuid4()), "role": "authenticated", "aud": "authenticated",
                                 "iat": now, "exp": now + 3600, "session_id": str(uuid.uuid4())}
    claims.update(overrides)
    return jwt.encode(claims, secret or stack.jwt_secret, algorithm="HS256")
