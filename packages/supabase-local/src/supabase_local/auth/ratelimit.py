"""Per-address request limits as Supabase Auth keeps them (internal/api/apilimiter/apilimiter.go): a token bucket
per client address for each kind of request, refilled at ``per_period / period`` tokens a second up to ``burst``.

The gateway is the edge (no proxy rewrites addresses in front of it), so the address is the connection's peer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from supabase_local.auth import errors

IDLE_BUCKETS = 10_000  # addresses kept before the fullest (longest idle) buckets are forgotten


@dataclass(frozen=True)
class Rate:
    """``per_period`` requests each ``period`` seconds, at most ``burst`` at once."""

    per_period: float
    period: float
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_period / self.period


# apilimiter.go's defaults: anonymous sign-ins 30 an hour (burst 30); /token 150 per 5 minutes (burst 30);
# sign-ups the OTP limit, 30 per 5 minutes (burst 30).
ANONYMOUS = Rate(30, 3600, 30)
TOKEN = Rate(150, 300, 30)
SIGNUPS = Rate(30, 300, 30)
ENV = {"anonymous": "SUPABASE_LOCAL_AUTH_RATE_LIMIT_ANONYMOUS_USERS",
       "token": "SUPABASE_LOCAL_AUTH_RATE_LIMIT_TOKEN_REFRESH",
       "signups": "SUPABASE_LOCAL_AUTH_RATE_LIMIT_SIGN_UPS"}


class Limiter:
    """One token bucket per address for one kind of request."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when counted)

    def take(self, address: str) -> None:
        """Spend one request of ``address``; GoTrue's 429 ``over_request_rate_limit`` when none is left."""
        now = self.clock()
        tokens, then = self._buckets.pop(address, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + (now - then) * self.rate.per_second)
        if len(self._buckets) >= IDLE_BUCKETS:
            del self._buckets[next(iter(self._buckets))]
        if tokens < 1:
            self._buckets[address] = (tokens, now)
            raise errors.AuthApiError(429, "over_request_rate_limit", "Request rate limit reached")
        self._buckets[address] = (tokens - 1, now)


def rate_from_env(kind: str, default: Rate, environ: dict[str, str] | None = None) -> Rate:
    """``default`` with its per-period count (and burst, as GoTrue's limits keep them equal) from the setting
    named in ``ENV``; a clear error for anything but a positive number."""
    raw = (environ if environ is not None else os.environ).get(ENV[kind])
    if raw is None:
        return default
    try:
        count = float(raw)
    except ValueError:
        count = 0.0
    if count <= 0:
        raise ValueError(f"{ENV[kind]} must be a positive number of requests per period, got {raw!r}")
    return Rate(count, default.period, max(1, int(count)))


@dataclass
class Limits:
    """The limits the Auth service applies."""

    anonymous: Limiter
    token: Limiter
    signups: Limiter

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        return cls(Limiter(rate_from_env("anonymous", ANONYMOUS, environ)),
                   Limiter(rate_from_env("token", TOKEN, environ)),
                   Limiter(rate_from_env("signups", SIGNUPS, environ)))
