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
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from supabase_local.pg_listener import Listener
from supabase_local.realtime.protocol import RawJson, push
from supabase_local.realtime.registry import Registry, channel_key

log = structlog.get_logger(__name__)

CHANNEL = "realtime_messages"
TOPIC_PREFIX = "realtime:"
SWEEP_EVERY_SECONDS = 3600.0
SWEEP = "delete from realtime.messages where inserted_at < now() - interval '72 hours'"
READ_BACK = ("select id, topic, event, coalesce(private, false), coalesce(payload::text, 'null') "
             "from realtime.messages where id = %s and inserted_at = %s")
ROUTING = ("id", "topic", "event", "private")


class MessageFeed:
    """Listens for committed broadcast rows and delivers them to the registry's joins of their topic."""

    def __init__(self, pool: AsyncConnectionPool, listener: Listener, registry: Registry,
                 on_listening: Callable[[], Awaitable[None]]) -> None:
        self._pool = pool
        self._registry = registry
        self._behind: deque[tuple[dict[str, Any], str | None]] = deque()  # waiting on a message read back
        self._catching_up: asyncio.Task[None] | None = None  # held so the loop does not drop it
        self.delivered_count = 0
        # A message committed while the connection was down is not delivered, as a subscriber disconnected from
        # hosted Realtime misses it; on reconnect the joined topics are listed again, to be notified from there on.
        listener.subscribe("realtime.broadcasts", [CHANNEL], self._on_notify, on_listening)

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

    def _on_notify(self, note: psycopg.Notify) -> None:
        """Deliver a message that came whole at once; one to read back, and those after it, in order."""
        parsed = _parse(note.payload)
        if parsed is None:
            return
        if self._behind or parsed[1] is None:
            self._behind.append(parsed)
            if len(self._behind) == 1:
                self._catching_up = asyncio.create_task(self._deliver_behind(), name="realtime.broadcast_read_back")
            return
        self.deliver(parsed[0], RawJson(parsed[1]))

    async def _deliver_behind(self) -> None:
        while self._behind:
            note, payload = self._behind[0]
            try:
                if payload is None:
                    read = await self._read_back(note)
                    if read is None:
                        continue
                    note, payload = read
                self.deliver(note, RawJson(payload))
            finally:
                self._behind.popleft()

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


def _parse(raw: str) -> tuple[dict[str, Any], str | None] | None:
    """A notification's routing fields and payload text (None: too large, read the row back), or None when it
    cannot be read."""
    head, newline, payload = raw.partition("\n")  # the JSON line escapes its own newlines
    try:
        note = json.loads(head)
    except ValueError:
        log.warning("realtime.broadcast_unreadable", payload=raw[:200])
        return None
    return note, payload if newline else None
