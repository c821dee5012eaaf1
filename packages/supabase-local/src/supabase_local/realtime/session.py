"""One websocket client: its channel joins and the handling of every frame it sends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from supabase_local.realtime.auth import Auth, AuthError, authenticate, expired_message
from supabase_local.realtime.authorization import Authorization
from supabase_local.realtime.bindings import BindingError, parse_binding
from supabase_local.realtime.catalog import Catalog
from supabase_local.realtime.outbox import Outbox
from supabase_local.realtime.presence import PresenceBoard
from supabase_local.realtime.protocol import PHOENIX_TOPIC, Frame, ProtocolError, error_reply, push, reply
from supabase_local.realtime.registry import ChannelJoin, Registry
from supabase_local.realtime.watchlist import Watchlist, pattern

log = structlog.get_logger(__name__)

TOPIC_PREFIX = "realtime:"


@dataclass
class Hub:
    """What every connection shares: who is joined where, which tables are watched and which topics joined,
    presences, table metadata, the JWT secret and the policy checks of private channels."""

    registry: Registry
    watchlist: Watchlist
    topics: Watchlist
    presence: PresenceBoard
    catalog: Catalog
    jwt_secret: str
    authorization: Authorization


def _flag(config: object, key: str) -> bool:
    return isinstance(config, dict) and config.get(key) is True


def _unauthorized(topic: str) -> str:
    """Hosted Realtime's reason when the policies do not open a private channel (realtime_channel.ex
    ``maybe_assign_policies``); a join refused for it is prefixed with ``Unauthorized: `` (logging.ex ``log_error``),
    a channel shut down on a token refresh is not (``shutdown_response``)."""
    return f"You do not have permissions to read from this Channel topic: {topic.removeprefix(TOPIC_PREFIX)}"


def _subscribed(topic: str) -> Frame:
    return push(topic, "system", {"channel": topic.removeprefix(TOPIC_PREFIX), "extension": "postgres_changes",
                                  "message": "Subscribed to PostgreSQL", "status": "ok"})


class ClientSession:
    """The server side of one websocket: joins, leaves, broadcasts, presence, token refreshes."""

    def __init__(self, hub: Hub, outbox: Outbox, apikey: str) -> None:
        self.hub = hub
        self.outbox = outbox
        self.apikey = apikey
        self.joins: dict[str, ChannelJoin] = {}
        self._expiry: dict[ChannelJoin, asyncio.TimerHandle] = {}
        self._handlers: dict[str, Callable[[Frame, ChannelJoin], Awaitable[None]]] = {
            "phx_leave": self._leave, "broadcast": self._broadcast, "presence": self._presence,
            "access_token": self._access_token}

    def send(self, frame: Frame) -> None:
        self.outbox.put(frame)

    async def receive(self, message: str | bytes) -> None:
        """Handle one websocket message; a malformed one gets an error reply and changes nothing."""
        try:
            frame = self.outbox.serializer.decode(message)
        except ProtocolError as error:
            log.info("realtime.bad_frame", reason=str(error))
            self.send(error_reply(Frame(PHOENIX_TOPIC, "phx_reply"), f"malformed message: {error}"))
            return
        if frame.topic == PHOENIX_TOPIC:
            status = "ok" if frame.event == "heartbeat" else "error"
            body = {} if status == "ok" else {"reason": f"unknown event {frame.event!r} on topic phoenix"}
            self.send(reply(frame, status, body))
        elif frame.event == "phx_join":
            await self._join(frame)
        elif (join := self.joins.get(frame.topic)) is None:
            self.send(error_reply(frame, "unmatched topic"))
        elif (handler := self._handlers.get(frame.event)) is None:
            self.send(error_reply(frame, f"unknown event {frame.event!r}"))
        else:
            await handler(frame, join)

    async def _join(self, frame: Frame) -> None:
        config = frame.payload.get("config") or {}
        if not isinstance(config, dict):
            self.send(error_reply(frame, "config must be an object"))
            return
        raw_bindings = config.get("postgres_changes") or []
        private = config.get("private") is True
        try:
            auth = authenticate(frame.payload.get("access_token") or self.apikey, self.hub.jwt_secret)
            if private and not await self._may_read(auth, frame.topic):
                raise ProtocolError(f"Unauthorized: {_unauthorized(frame.topic)}")
            if not isinstance(raw_bindings, list):
                raise BindingError("config.postgres_changes must be a list")
            bindings = [await parse_binding(raw, self.hub.catalog) for raw in raw_bindings]
        except (AuthError, BindingError, ProtocolError) as error:
            log.info("realtime.join_refused", topic=frame.topic, reason=str(error))
            self.send(error_reply(frame, str(error)))
            return
        previous = self.joins.pop(frame.topic, None)
        if previous is not None:
            self._drop(previous)
        presence = config.get("presence") if isinstance(config.get("presence"), dict) else {}
        join = ChannelJoin(frame.topic, frame.join_ref or frame.ref, auth, self.outbox, bindings,
                           broadcast_self=_flag(config.get("broadcast"), "self"),
                           broadcast_ack=_flag(config.get("broadcast"), "ack"),
                           presence_key=str(presence.get("key") or uuid.uuid4()),
                           presence_enabled=presence.get("enabled") is True, private=private)
        self.joins[frame.topic] = join
        self.hub.registry.add(join)
        self._watch_expiry(join)
        # Captured and broadcast to it from here on: its tables and topic listed before the client hears "ok".
        await self.hub.watchlist.watch(pattern(binding) for binding in bindings)
        await self.hub.topics.watch([(frame.topic.removeprefix(TOPIC_PREFIX),)])
        echoed = [{**raw, "id": binding.id} for raw, binding in zip(raw_bindings, bindings, strict=True)]
        self.send(reply(frame, "ok", {"postgres_changes": echoed}))
        if bindings:
            join.deliver(_subscribed(frame.topic))
        if join.presence_enabled:
            join.deliver(push(frame.topic, "presence_state", self.hub.presence.state(join.key)))
        log.info("realtime.joined", topic=frame.topic, role=auth.role, bindings=len(bindings), private=private)

    async def _may_read(self, auth: Auth, topic: str) -> bool:
        return await self.hub.authorization.can_read(auth, topic.removeprefix(TOPIC_PREFIX))

    async def _leave(self, frame: Frame, join: ChannelJoin) -> None:
        self.joins.pop(frame.topic, None)
        self._drop(join)
        self.send(reply(frame, "ok", {}))

    async def _broadcast(self, frame: Frame, join: ChannelJoin) -> None:
        event, body = frame.payload.get("event"), frame.payload.get("payload")
        if not isinstance(event, str) or not isinstance(body, dict):
            self.send(error_reply(frame, "broadcast needs an event (string) and a payload (object)"))
            return
        if join.private and join.may_write is None:
            join.may_write = await self.hub.authorization.can_write(join.auth, join.topic.removeprefix(TOPIC_PREFIX))
        if join.private and not join.may_write:
            log.info("realtime.broadcast_refused", topic=join.topic, role=join.auth.role)
        else:
            self._send_broadcast(frame, join, event, body)
        if join.broadcast_ack:
            self.send(reply(frame, "ok", {}))

    def _send_broadcast(self, frame: Frame, join: ChannelJoin, event: str, body: dict[str, Any]) -> None:
        message = push(frame.topic, "broadcast", {"type": "broadcast", "event": event, "payload": body})
        for member in self.hub.registry.members(join.key):
            if member is not join or join.broadcast_self:
                member.deliver(message)

    async def _presence(self, frame: Frame, join: ChannelJoin) -> None:
        action, body = frame.payload.get("event"), frame.payload.get("payload") or {}
        if action == "track" and isinstance(body, dict):
            diff: dict[str, Any] | None = self.hub.presence.track(join.key, join, join.presence_key, body)
        elif action == "untrack":
            diff = self.hub.presence.untrack(join.key, join)
        else:
            self.send(error_reply(frame, "presence needs event track (with an object payload) or untrack"))
            return
        self.send(reply(frame, "ok", {}))
        self._publish_diff(join, diff)

    async def _access_token(self, frame: Frame, join: ChannelJoin) -> None:
        try:
            join.auth = authenticate(frame.payload.get("access_token"), self.hub.jwt_secret)
        except AuthError as error:
            log.info("realtime.token_refused", topic=frame.topic, reason=str(error))
            self._shut_down(join, str(error))
            return
        join.may_write = None  # the new claims may open or close the channel: checked again
        if join.private and not await self._may_read(join.auth, join.topic):
            log.info("realtime.read_revoked", topic=frame.topic, role=join.auth.role)
            self._shut_down(join, _unauthorized(join.topic))
            return
        self._watch_expiry(join)

    def _watch_expiry(self, join: ChannelJoin) -> None:
        """Close ``join`` when its token runs out, as Supabase does, unless a fresh ``access_token`` comes first."""
        self._cancel_expiry(join)
        left = join.auth.seconds_left()
        if left is not None:
            self._expiry[join] = asyncio.get_running_loop().call_later(max(left, 0.0), self._expire, join)

    def _expire(self, join: ChannelJoin) -> None:
        self._expiry.pop(join, None)
        if self.joins.get(join.topic) is not join:
            return
        left = join.auth.seconds_left()
        if left is not None and left > 0:  # the loop's clock ran ahead of the wall clock
            self._watch_expiry(join)
            return
        message = expired_message(join.auth.expires_at or 0.0)
        log.info("realtime.token_expired", topic=join.topic, role=join.auth.role)
        self._shut_down(join, message)

    def _shut_down(self, join: ChannelJoin, message: str) -> None:
        """End one channel with the reason: a ``system`` error, then ``phx_close`` (the client stops rejoining)."""
        self.joins.pop(join.topic, None)
        self._drop(join)
        self.send(push(join.topic, "system", {"channel": join.topic.removeprefix(TOPIC_PREFIX),
                                              "extension": "system", "message": message, "status": "error"}))
        self.send(push(join.topic, "phx_close", {}, join.join_ref))

    def _publish_diff(self, join: ChannelJoin, diff: dict[str, Any] | None) -> None:
        if diff is None:
            return
        for member in self.hub.registry.members(join.key):
            member.deliver(push(join.topic, "presence_diff", diff))

    def _cancel_expiry(self, join: ChannelJoin) -> None:
        timer = self._expiry.pop(join, None)
        if timer is not None:
            timer.cancel()

    def _drop(self, join: ChannelJoin) -> None:
        self._cancel_expiry(join)
        self.hub.registry.remove(join)
        self.hub.watchlist.unwatch(pattern(binding) for binding in join.bindings)
        self.hub.topics.unwatch([(join.topic.removeprefix(TOPIC_PREFIX),)])
        self._publish_diff(join, self.hub.presence.untrack(join.key, join))

    def close(self) -> None:
        """Leave every channel (the others see presence leaves)."""
        for join in list(self.joins.values()):
            self._drop(join)
        self.joins.clear()
