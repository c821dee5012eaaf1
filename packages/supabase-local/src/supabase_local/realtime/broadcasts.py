"""Broadcast from the database: rows inserted into ``realtime.messages`` (by ``realtime.send``,
``realtime.broadcast_changes`` or a plain insert) reach the subscribers of their topic.

Hosted Realtime reads the inserts from the WAL (lib/realtime/tenants/replication_connection.ex) and broadcasts each
to the tenant topic of its ``topic``, the private one when ``private`` is true; here ``52_realtime_broadcast.sql``'s
trigger notifies ``realtime_messages`` on commit with the row (or its id when too large, and the row is read
back). A private message goes only to private joins of the topic, which passed the read policies when they
joined (or refreshed their token); a public one to public joins. Each subscriber gets the message as hosted
sends a ``UserBroadcast``: ``{"type": "broadcast", "event", "payload", "meta": {"id"}}``.

Messages are kept 72 hours, as hosted Realtime's janitor keeps them (lib/realtime/messages.ex
``delete_old_messages``, which drops the day partitions past that age); older rows are swept every hour.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from supabase_local.realtime.protocol import RawJson, push
from supabase_local.realtime.registry import Registry, channel_key

log = structlog.get_logger(__name__)

CHANNEL = "realtime_messages"
TOPIC_PREFIX = "realtime:"
BACKOFF_MIN_SECONDS = 0.05
BACKOFF_MAX_SECONDS = 2.0
SWEEP_EVERY_SECONDS = 3600.0
SWEEP = "delete from realtime.messages where inserted_at < now() - interval '72 hours'"
READ_BACK = ("select id, topic, event, coalesce(private, false), coalesce(payload::text, 'null') "
             "from realtime.messages where id = %s and inserted_at = %s")
ROUTING = ("id", "topic", "event", "private")


class MessageFeed:
    """Listens for committed broadcast rows and delivers them to the registry's joins of their topic."""

    def __init__(self, db_url: str, pool: AsyncConnectionPool, registry: Registry,
                 on_listening: Callable[[], Awaitable[None]]) -> None:
        self._db_url = db_url
        self._pool = pool
        self._registry = registry
        self._on_listening = on_listening
        self.connected = asyncio.Event()
        self.delivered_count = 0

    async def listen(self) -> None:
        """Keep a LISTEN connection open forever, reconnecting with backoff; never returns. A message committed
        while the connection was down is not delivered, as a subscriber disconnected from hosted Realtime misses it."""
        delay = BACKOFF_MIN_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._db_url, autocommit=True) as conn:
                    await conn.execute(sql.SQL("listen {}").format(sql.Identifier(CHANNEL)))
                    await self._on_listening()  # the joined topics listed again: notified from here on
                    self.connected.set()
                    delay = BACKOFF_MIN_SECONDS
                    log.info("realtime.broadcast_feed_listening")
                    async for note in conn.notifies():
                        await self._handle(note.payload)
            except psycopg.OperationalError as error:
                self.connected.clear()
                log.warning("realtime.broadcast_feed_disconnected", error=str(error).strip(), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_SECONDS)

    async def sweep(self) -> int:
        """Delete the messages past their retention; how many went."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(SWEEP)
            return cur.rowcount

    async def sweep_forever(self) -> None:
        """Sweep now and every ``SWEEP_EVERY_SECONDS``; a failed sweep waits for the next one. Never returns."""
        while True:
            try:
                swept = await self.sweep()
                if swept:
                    log.info("realtime.messages_swept", count=swept)
            except psycopg.Error as error:
                log.warning("realtime.messages_sweep_failed", error=str(error).strip())
            await asyncio.sleep(SWEEP_EVERY_SECONDS)

    async def _handle(self, raw: str) -> None:
        head, newline, payload = raw.partition("\n")  # the JSON line escapes its own newlines
        try:
            note = json.loads(head)
        except ValueError:
            log.warning("realtime.broadcast_unreadable", payload=raw[:200])
            return
        if not newline:
            read = await self._read_back(note)
            if read is None:
                return
            note, payload = read
        self.deliver(note, RawJson(payload))

    async def _read_back(self, note: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
        """The routing fields and payload of a message too large for its notification."""
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(READ_BACK, (note.get("id"), note.get("inserted_at")))
                row = await cur.fetchone()
        except psycopg.Error as error:
            log.warning("realtime.broadcast_read_failed", id=note.get("id"), error=str(error).strip())
            return None
        if row is None:
            return None
        return dict(zip(ROUTING, row[:-1], strict=True)), row[-1]

    def deliver(self, note: dict[str, Any], payload: RawJson) -> None:
        """Queue one message (its routing fields and its payload's JSON) to every join of its topic with the
        same privacy."""
        topic = TOPIC_PREFIX + str(note["topic"])
        members = self._registry.members(channel_key(topic, bool(note.get("private"))))
        if not members:
            return
        frame = push(topic, "broadcast", {"type": "broadcast", "event": note.get("event"), "payload": payload,
                                          "meta": {"id": note.get("id")}})
        for member in members:
            member.deliver(frame)
        self.delivered_count += len(members)
