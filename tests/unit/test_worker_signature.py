"""Standard Webhooks verification: the spec's test vector, every refusal, and replay memory."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from worker.settings import SettingsError, decode_secret
from worker.signature import ReplayGuard, SignatureError, sign, verify

# The published test vector of the Standard Webhooks reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
TOLERANCE = 300


def spec_headers(signature: str = SPEC_SIGNATURE, timestamp: int = SPEC_TIMESTAMP) -> dict[str, str]:
    return {"webhook-id": SPEC_ID, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_sign_matches_spec_vector():
    assert sign(decode_secret(SPEC_SECRET), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_sign_matches_reference_hmac():
    key = b"\x00\x01binary key\xff" * 5
    expected = hmac.new(key, b"id-1.1700000000.{\"a\": 1}", hashlib.sha256).digest()
    assert sign(key, "id-1", 1700000000, b'{"a": 1}') == "v1," + base64.b64encode(expected).decode()


def test_bad_secrets_are_named():
    with pytest.raises(SettingsError, match="does not start with whsec_"):
        decode_secret(SPEC_SECRET.removeprefix("whsec_"))
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        decode_secret("whsec_not base64!")
    with pytest.raises(SettingsError, match="holds 0 bytes"):
        decode_secret("whsec_")


def test_valid_delivery_returns_id_and_timestamp():
    key = decode_secret(SPEC_SECRET)
    assert verify(key, spec_headers(), SPEC_BODY, SPEC_TIMESTAMP + 10, TOLERANCE) == (SPEC_ID, SPEC_TIMESTAMP)


def test_any_of_several_signatures_may_match():
    key = decode_secret(SPEC_SECRET)
    several = f"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc= {SPEC_SIGNATURE} v1,xyz="
    assert verify(key, spec_headers(several), SPEC_BODY, SPEC_TIMESTAMP, TOLERANCE)[0] == SPEC_ID


@pytest.mark.parametrize(("headers", "body", "now", "message"), [
    ({"webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": SPEC_SIGNATURE}, SPEC_BODY, SPEC_TIMESTAMP,
     "missing webhook-id"),
    ({"webhook-id": SPEC_ID, "webhook-signature": SPEC_SIGNATURE}, SPEC_BODY, SPEC_TIMESTAMP,
     "missing webhook-timestamp"),
    ({"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP)}, SPEC_BODY, SPEC_TIMESTAMP,
     "missing webhook-signature"),
    (spec_headers(timestamp=0) | {"webhook-timestamp": "hello"}, SPEC_BODY, SPEC_TIMESTAMP, "not an integer"),
    (spec_headers("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="), SPEC_BODY, SPEC_TIMESTAMP, "no webhook-sig"),
    (spec_headers(SPEC_SIGNATURE.replace("v1,", "v2,")), SPEC_BODY, SPEC_TIMESTAMP, "no webhook-signature"),
    (spec_headers(), b'{"test": 2432232315}', SPEC_TIMESTAMP, "no webhook-signature"),
    (spec_headers(), SPEC_BODY, SPEC_TIMESTAMP + TOLERANCE + 1, "outside the tolerance"),
    (spec_headers(), SPEC_BODY, SPEC_TIMESTAMP - TOLERANCE - 1, "outside the tolerance"),
    (spec_headers() | {"webhook-id": "x" * 300}, SPEC_BODY, SPEC_TIMESTAMP, "too long"),
])
def test_refusals_name_the_failed_check(headers, body, now, message):
    with pytest.raises(SignatureError, match=message):
        verify(decode_secret(SPEC_SECRET), headers, body, now, TOLERANCE)


def test_wrong_key_is_refused():
    with pytest.raises(SignatureError):
        verify(b"another key", spec_headers(), SPEC_BODY, SPEC_TIMESTAMP, TOLERANCE)


def test_replay_guard_refuses_a_seen_id_until_it_expires():
    guard = ReplayGuard(TOLERANCE)
    guard.remember("a", 1000, now=1000)
    with pytest.raises(SignatureError, match="replay"):
        guard.remember("a", 1000, now=1100)
    guard.remember("b", 1500, now=1500)  # "a" expired at 1300 and is forgotten
    assert len(guard) == 1
    guard.remember("a", 1500, now=1500)


def test_replay_guard_memory_is_bounded():
    guard = ReplayGuard(TOLERANCE, capacity=3)
    for n in range(10):
        guard.remember(f"id-{n}", 1000, now=1000)
    assert len(guard) == 3
