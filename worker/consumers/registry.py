"""The consumed queues by name: the endpoints and ``--consume`` serve these."""

from __future__ import annotations

from worker.consumers import analytics, like_events, noop, notifications
from worker.consumers.consumer import Consumer

CONSUMERS: dict[str, Consumer] = {c.queue: c for c in (like_events.CONSUMER, notifications.CONSUMER,
                                                        analytics.CONSUMER, noop.CONSUMER)}


class UnknownQueue(KeyError):
    """No consumer serves that queue."""


def consumer_for(queue: str) -> Consumer:
    """The consumer of ``queue`` or ``UnknownQueue`` naming the ones there are."""
    try:
        return CONSUMERS[queue]
    except KeyError:
        raise UnknownQueue(f"no consumer for queue {queue!r}; known: {', '.join(sorted(CONSUMERS))}") from None
