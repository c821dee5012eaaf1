"""The REST gateway keeps verified tokens until they expire: a cached token is not verified again, an expired
one is refused with PostgREST's error, a bad one is never kept, and the cache stays bounded."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from supabase_local.keys import sign_role_key
from supabase_local.rest.auth import Authenticator
from supabase_local.rest.errors import RestError

SECRET = "a-test-secret-of-at-least-32-characters"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def token(lifetime: int = 3600, secret: str = SECRET, **claims: object) -> str:
    now = int(time.time())
    return jwt.encode({"role": "anon", "iat": now, "exp": now + lifetime, **claims}, secret, algorithm="HS256")


def test_a_verified_token_is_kept_and_reused():
    auth = Authenticator(SECRET)
    key = sign_role_key(SECRET, "service_role")
    first = auth.authenticate(key, f"Bearer {key}")
    assert first.role == "service_role" and len(auth) == 1
    assert auth.authenticate(key, f"Bearer {key}") is first
    assert json.loads(first.claims_json) == first.claims


def test_a_kept_token_is_refused_once_it_expires():
    auth = Authenticator(SECRET)
    expires = int(time.time()) + 1
    short = jwt.encode({"role": "anon", "exp": expires}, SECRET, algorithm="HS256")
    assert auth.authenticate(short, None).role == "anon" and len(auth) == 1
    while time.time() < expires:  # the token's last second passes (at most one second)
        time.sleep(0.05)
    with pytest.raises(RestError) as err:
        auth.authenticate(short, None)
    assert (err.value.status, err.value.code, err.value.message) == (401, "PGRST303", "JWT expired")
    assert len(auth) == 0


def test_the_cache_reads_its_clock():
    clock = Clock()
    auth = Authenticator(SECRET, clock=clock)
    kept = token(lifetime=60)
    first = auth.authenticate(kept, None)
    clock.now += 30
    assert auth.authenticate(kept, None) is first
    clock.now += 31  # past the expiry by this clock: verified afresh (the wall clock still accepts it)
    assert auth.authenticate(kept, None) is not first


def test_a_bad_token_is_refused_every_time_and_never_kept():
    auth = Authenticator(SECRET)
    forged = token(secret="another-secret-of-at-least-32-characters")
    for _ in range(2):
        with pytest.raises(RestError) as err:
            auth.authenticate(forged, None)
        assert (err.value.status, err.value.code) == (401, "PGRST301")
    assert len(auth) == 0


def test_a_token_without_expiry_is_verified_each_time():
    auth = Authenticator(SECRET)
    forever = jwt.encode({"role": "anon"}, SECRET, algorithm="HS256")
    assert auth.authenticate(forever, None).role == "anon"
    assert len(auth) == 0


def test_the_cache_is_bounded():
    auth = Authenticator(SECRET, size=2)
    tokens = [token(sub=f"user-{n}") for n in range(3)]
    for each in tokens:
        auth.authenticate(each, None)
    assert len(auth) == 2
    assert auth.authenticate(tokens[2], None).claims["sub"] == "user-2"
