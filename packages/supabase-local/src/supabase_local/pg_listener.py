"""One LISTEN connection for every service of the process, outliving database restarts.

Each notifying commit wakes every backend of the database that listens on any channel, and each of them reads
the notification queue: five services with a listening connection each made every broadcast, webhook and cron
change wake five backends. Here the services subscribe to their channels on one shared connection instead.

Notifications sent while the connection is down are lost, so each subscriber's ``on_connect`` runs after every
(re)connect, before any notification is handed over: it lets the subscriber catch up on what it missed.
``on_notify`` runs on the listener's task and must not block: a subscriber with slow work queues it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import psycopg
import structlog
from psycopg import sql

log = structlog.get_logger(__name__)

FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0

OnNotify = Callable[[psycopg.Notify], None]
OnConnect = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class _Subscriber:
    owner: str
    on_notify: OnNotify
    on_connect: OnConnect | None


class Listener:
    """Listens on its subscribers' channels; hands each notification to the subscribers of its channel."""

    def __init__(self, db_url: str) -> None:
        self._db_url = db_url
        self._subscribers: list[_Subscriber] = []
        self._routes: dict[str, list[OnNotify]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.problem: str | None = "not connected yet"

    def subscribe(self, owner: str, channels: Iterable[str], on_notify: OnNotify,
                  on_connect: OnConnect | None = None) -> None:
        """Hand ``owner`` the notifications of ``channels``; subscribe before ``start``, which listens on them."""
        if self._task is not None:
            raise RuntimeError(f"{owner} subscribed after the listener started; subscribe before start")
        self._subscribers.append(_Subscriber(owner, on_notify, on_connect))
        for channel in channels:
            self._routes[channel].append(on_notify)

    def wake(self, owner: str, channel: str, event: asyncio.Event) -> None:
        """Set ``event`` on each notification of ``channel`` and after each (re)connect, for a service that
        looks for its work itself when woken (what was notified while nobody listened included)."""

        async def on_connect() -> None:
            event.set()

        self.subscribe(owner, [channel], lambda _note: event.set(), on_connect)

    def start(self) -> None:
        """Listen in the background until ``stop``; ``connected`` is set once every subscriber has caught up."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.connected.clear()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with a growing backoff while the database is unreachable."""
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._db_url, autocommit=True) as conn:
                    for channel in self._routes:
                        await conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
                    for subscriber in self._subscribers:
                        if subscriber.on_connect is not None:
                            await subscriber.on_connect()
                    self.problem = None
                    self.connected.set()
                    backoff = FIRST_BACKOFF_SECONDS
                    log.info("listener.connected", channels=sorted(self._routes),
                             subscribers=[s.owner for s in self._subscribers])
                    async for note in conn.notifies():
                        self._hand_over(note)
                self.problem = "the listening connection closed"
            except psycopg.Error as err:
                self.problem = f"database unreachable: {err}".strip()
            self.connected.clear()
            log.warning("listener.disconnected", reason=self.problem, retry_in=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _hand_over(self, note: psycopg.Notify) -> None:
        """Give ``note`` to its channel's subscribers; one that fails is logged and the others still get it."""
        for on_notify in self._routes[note.channel]:
            try:
                on_notify(note)
            except Exception:
                log.exception("listener.subscriber_failed", channel=note.channel)
