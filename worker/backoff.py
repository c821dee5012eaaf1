"""How long a failed job waits before its next attempt: exponential in the attempt number, with jitter."""

from __future__ import annotations

import math
import random


def retry_delay(attempt: int, base_seconds: float, max_seconds: float, rng: random.Random) -> int:
    """Whole seconds before attempt ``attempt + 1``: base * 2^(attempt-1), capped, scaled by 50-100 % jitter.

    The jitter spreads retries of jobs that failed together, so they do not all come back at once.
    """
    ceiling = min(max_seconds, base_seconds * 2 ** max(attempt - 1, 0))
    return math.ceil(ceiling * rng.uniform(0.5, 1.0))
