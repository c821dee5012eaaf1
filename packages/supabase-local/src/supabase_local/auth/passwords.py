"""Password rules and hashing as Supabase Auth applies them (internal/api/password.go, internal/crypto/password.go):
at most 72 bytes (bcrypt's limit), at least ``MIN_LENGTH`` characters, bcrypt at Go's default cost. Hashing takes
tens of milliseconds, so it runs in a thread, off the gateway's event loop."""

from __future__ import annotations

import asyncio

import bcrypt

from supabase_local.auth import errors

MAX_BYTES = 72  # password.go MaxPasswordLength
MIN_LENGTH = 6  # GOTRUE_PASSWORD_MIN_LENGTH's default
COST = 10  # golang.org/x/crypto/bcrypt DefaultCost, which GoTrue uses


def check_strength(password: str) -> None:
    """password.go ``checkPasswordStrength``: too long is 400 ``validation_failed``, too short 422 ``weak_password``."""
    encoded = password.encode()
    if len(encoded) > MAX_BYTES:
        raise errors.validation(f"Password cannot be longer than {MAX_BYTES} characters")
    if len(password) < MIN_LENGTH:
        raise errors.weak_password(f"Password should be at least {MIN_LENGTH} characters.", ["length"])


async def hash_password(password: str) -> str:
    """The bcrypt hash stored in ``auth.users.encrypted_password``."""
    hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), bcrypt.gensalt(COST))
    return hashed.decode()


async def matches(password: str, stored: str | None) -> bool:
    """True when ``password`` is the one ``stored`` was made from; False for users without a password."""
    encoded = password.encode()
    if not stored or len(encoded) > MAX_BYTES or b"\x00" in encoded:
        return False
    try:
        return await asyncio.to_thread(bcrypt.checkpw, encoded, stored.encode())
    except ValueError:
        return False  # a stored value that is not a bcrypt hash matches nothing
