"""The bearer that pg_cron's calls carry to the consumer endpoints.

The database derives it at call time from the webhook secret it reads from Vault
(``jobqueue_private.consumer_token()``); the worker derives the same from its ``WEBHOOK_SECRET``. It opens
the consumer endpoints and nothing else, unlike the service-role key the seed sent, and it changes when the
secret is rotated.
"""

from __future__ import annotations

import hashlib
import hmac

PURPOSE = b"queue-consumers"


def consumer_token(webhook_key: bytes) -> str:
    """Hex HMAC-SHA256 of ``queue-consumers`` under the webhook key."""
    return hmac.new(webhook_key, PURPOSE, hashlib.sha256).hexdigest()


def bearer_matches(header: str | None, webhook_key: bytes) -> bool:
    """Whether an ``Authorization`` header is ``Bearer <token>``, compared in constant time."""
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), consumer_token(webhook_key).encode())
