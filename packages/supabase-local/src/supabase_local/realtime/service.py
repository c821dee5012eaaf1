"""The Realtime service of the stack: the websocket route plus the change feed that drives it."""

from __future__ import annotations

import asyncio
import contextlib
import os

import structlog
from psycopg_pool import AsyncConnectionPool
from starlette.routing import BaseRoute, WebSocketRoute

from supabase_local.pg_listener import Listener
from supabase_local.pool_check import CheckWhenIdle
from supabase_local.realtime.authorization import Authorization
from supabase_local.realtime.broadcasts import MessageFeed
from supabase_local.realtime.capture import ChangeFeed
from supabase_local.realtime.catalog import Catalog
from supabase_local.realtime.dispatch import Dispatcher
from supabase_local.realtime.endpoint import RealtimeEndpoint
from supabase_local.realtime.outbox import DEFAULT_LIMIT
from supabase_local.realtime.presence import PresenceBoard
from supabase_local.realtime.registry import Registry
from supabase_local.realtime.session import Hub
from supabase_local.realtime.visibility import Visibility
from supabase_local.realtime.watchlist import joined_topics, watched_tables
from supabase_local.state import StackState

log = structlog.get_logger(__name__)

PATH = "/realtime/v1/websocket"
OUTBOX_LIMIT_ENV = "SUPABASE_LOCAL_REALTIME_OUTBOX_LIMIT"
START_DEADLINE_SECONDS = 20.0


class RealtimeService:
    """Supabase Realtime on the gateway: postgres_changes, broadcast (from clients and from the database) and
    presence over Phoenix channels, public or private."""

    name = "realtime"

    def __init__(self, state: StackState, listener: Listener, outbox_limit: int = DEFAULT_LIMIT) -> None:
        # The superuser pool reads the change log and the catalog; the authenticator pool checks visibility
        # as each subscriber's role. Pools replace broken connections after a database restart.
        self._pool = AsyncConnectionPool(state.admin_url, min_size=1, max_size=4, open=False, name="realtime",
                                         kwargs={"autocommit": True}, **CheckWhenIdle().pool_callbacks)
        self._role_pool = AsyncConnectionPool(state.authenticator_url, min_size=1, max_size=4, open=False,
                                              name="realtime-roles", kwargs={"autocommit": True},
                                              **CheckWhenIdle().pool_callbacks)
        catalog = Catalog(self._pool)
        self.hub = Hub(Registry(), watched_tables(self._pool), joined_topics(self._pool), PresenceBoard(), catalog,
                       state.jwt_secret, Authorization(self._role_pool))
        self.dispatcher = Dispatcher(self.hub.registry, catalog, Visibility(self._role_pool))
        self.feed = ChangeFeed(self._pool, listener, self.dispatcher.handle, catalog.invalidate,
                               self.hub.watchlist.reset)
        self.messages = MessageFeed(self._pool, listener, self.hub.registry, self.hub.topics.reset)
        self.endpoint = RealtimeEndpoint(self.hub, outbox_limit)
        self._tasks: list[asyncio.Task[None]] = []

    def routes(self) -> list[BaseRoute]:
        """The websocket route the supabase clients derive from the project URL."""
        return [WebSocketRoute(PATH, self.endpoint.handle)]

    async def start(self) -> None:
        """Open the pools, drop changes nobody can receive any more, and listen for new ones."""
        await self._pool.open(wait=True, timeout=START_DEADLINE_SECONDS)
        await self._role_pool.open(wait=True, timeout=START_DEADLINE_SECONDS)
        dropped = await self.feed.purge()
        self._tasks = [asyncio.create_task(self.feed.process(), name="realtime-process"),
                       asyncio.create_task(self.messages.sweep_forever(), name="realtime-messages-sweep")]
        log.info("realtime.started", stale_changes_dropped=dropped)

    async def stop(self) -> None:
        """Stop the feed and close every database connection."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._role_pool.close()
        await self._pool.close()

    def health(self) -> str | None:
        """None while the change feed runs and listens; else why not."""
        for task in self._tasks:
            if task.done():
                return f"{task.get_name()} stopped"
        if not self.feed.connected.is_set():
            return "change and broadcast feeds reconnecting to the database"
        return None


def create(state: StackState, listener: Listener) -> RealtimeService:
    """The factory listed in ``supabase_local.services.service_factories``; the environment may lower the
    per-connection queue bound (``SUPABASE_LOCAL_REALTIME_OUTBOX_LIMIT`` frames), e.g. to test slow clients."""
    return RealtimeService(state, listener, outbox_limit(os.environ.get(OUTBOX_LIMIT_ENV)))


def outbox_limit(raw: str | None) -> int:
    """The per-connection queue bound from its setting; a clear error for anything but a positive integer."""
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ValueError(f"{OUTBOX_LIMIT_ENV} must be a positive number of frames, got {raw!r}")
    return int(raw)
