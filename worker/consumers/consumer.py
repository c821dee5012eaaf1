"""What a consumer is: a queue, the model each of its messages must fit, and a batch handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from worker.consumers.queue_client import QueueClient

Handler = Callable[[QueueClient, Sequence[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    """A queue's consumer. ``handle`` gets a batch of validated events and must be idempotent per event:
    a batch delivered again (a crash before its acknowledgement) changes nothing twice. ``archive`` keeps
    handled messages in the queue's archive (trimmed by retention) instead of deleting them."""

    queue: str
    model: type[BaseModel]
    handle: Handler
    archive: bool = True
