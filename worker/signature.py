"""Standard Webhooks signatures: verify ``webhook-signature`` over ``id.timestamp.body`` in constant time.

A delivery is genuine when one of the space-separated ``v1,<base64>`` signatures equals
HMAC-SHA256(key, ``<webhook-id>.<webhook-timestamp>.<raw body>``) and its timestamp is within the
tolerance window. ``ReplayGuard`` remembers the ids it accepted for as long as they could still pass that check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping

VERSION = "v1"
MAX_ID_LENGTH = 256


class SignatureError(ValueError):
    """The delivery is not authentic (or is a replay); the message says which check failed."""


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of a delivery, as the sender computes it."""
    signed = webhook_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise SignatureError(f"missing {name} header")
    return value


def _timestamp(raw: str, now: float, tolerance: int) -> int:
    try:
        timestamp = int(raw)
    except ValueError as err:
        raise SignatureError("webhook-timestamp is not an integer") from err
    if abs(now - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp is outside the tolerance window")
    return timestamp


def verify(key: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance: int) -> tuple[str, int]:
    """Check a delivery's headers against its raw body; return its (webhook-id, timestamp) or raise."""
    webhook_id = _header(headers, "webhook-id")
    if len(webhook_id) > MAX_ID_LENGTH:
        raise SignatureError("webhook-id is too long")
    timestamp = _timestamp(_header(headers, "webhook-timestamp"), now, tolerance)
    expected = sign(key, webhook_id, timestamp, body).encode()
    matched = False
    for candidate in _header(headers, "webhook-signature").split():
        # Compare every candidate so the time taken does not tell which one (or how much of one) matched.
        matched |= hmac.compare_digest(candidate.encode(), expected)
    if not matched:
        raise SignatureError("no webhook-signature matches the body")
    return webhook_id, timestamp


class ReplayGuard:
    """Accepted webhook-ids, each kept until its timestamp leaves the tolerance window; at most ``capacity``."""

    def __init__(self, tolerance: int, capacity: int = 100_000) -> None:
        self._tolerance = tolerance
        self._capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def remember(self, webhook_id: str, timestamp: int, now: float) -> None:
        """Record a first delivery of ``webhook_id``; raise ``SignatureError`` when it was seen already."""
        self._forget_expired(now)
        if webhook_id in self._seen:
            raise SignatureError("webhook-id was already delivered (replay)")
        self._seen[webhook_id] = timestamp + self._tolerance
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)

    def _forget_expired(self, now: float) -> None:
        # Deliveries arrive roughly in timestamp order, so expired ids gather at the front.
        while self._seen:
            oldest_id, expires = next(iter(self._seen.items()))
            if expires >= now:
                return
            del self._seen[oldest_id]
