"""Sign-ups and sign-ins are limited per client address as GoTrue limits them; each test sends from its own
loopback address, so its buckets are its own. (The session's stack raises the anonymous and /token limits,
see conftest.py; sign-ups keep GoTrue's.)"""

from __future__ import annotations

import httpx
import pytest

from stack_support.auth import auth_call, new_email
from supabase_local.auth.errors import AuthApiError
from supabase_local.auth.ratelimit import ANONYMOUS, ENV, SIGNUPS, Limiter, Rate, rate_from_env
from supabase_local.state import StackState


def test_sign_ups_stop_at_the_burst_with_gotrues_429(stack: StackState) -> None:
    source = "127.0.0.23"

    def sign_up(address: str) -> httpx.Response:
        return auth_call(stack, "POST", "signup", json={"email": new_email(), "password": "correct horse"},
                         source=address)

    answers = [sign_up(source) for _ in range(SIGNUPS.burst)]
    assert {answer.status_code for answer in answers} == {200}
    refused = sign_up(source)
    assert (refused.status_code, refused.json()) == (429, {"code": "over_request_rate_limit",
                                                           "message": "Request rate limit reached"})
    assert sign_up("127.0.0.24").status_code == 200  # another address has its own bucket


def test_a_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = Limiter(Rate(per_period=2, period=10, burst=2), clock=lambda: now[0])
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(AuthApiError):
        limiter.take("a")
    now[0] = 5.0  # one request's worth of refill
    limiter.take("a")


def test_limits_come_from_the_environment() -> None:
    assert rate_from_env("anonymous", ANONYMOUS, {}) == ANONYMOUS
    assert rate_from_env("anonymous", ANONYMOUS, {ENV["anonymous"]: "500"}) == Rate(500, 3600, 500)
    with pytest.raises(ValueError, match=ENV["anonymous"]):
        rate_from_env("anonymous", ANONYMOUS, {ENV["anonymous"]: "many"})
