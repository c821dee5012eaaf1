"""Who listens to what: channel joins per topic and their ``postgres_changes`` bindings.

A private channel (``config.private``) and a public one of the same name are different channels, as hosted
Realtime keeps them on different PubSub topics (``Tenants.tenant_topic``): joins are registered by ``key``."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from supabase_local.realtime.auth import Auth
from supabase_local.realtime.filters import Condition
from supabase_local.realtime.outbox import Outbox
from supabase_local.realtime.protocol import Frame

EVENTS = ("INSERT", "UPDATE", "DELETE", "*")
WILDCARD = "*"
_binding_ids = itertools.count(1)
PRIVATE_SUFFIX = "\x00private"  # no client topic holds a NUL, so no public key can look like a private one


def channel_key(topic: str, private: bool) -> str:
    """The registry key of the channel ``topic`` (with its ``realtime:`` prefix), public or private."""
    return topic + PRIVATE_SUFFIX if private else topic


def next_binding_id() -> int:
    """A fresh subscription id (≥ 1: the client ignores falsy ids)."""
    return next(_binding_ids)


@dataclass(eq=False)
class Binding:
    """One ``postgres_changes`` subscription of a channel."""

    id: int
    event: str
    schema: str
    table: str | None
    conditions: tuple[Condition, ...] = ()
    select: tuple[str, ...] | None = None

    def covers(self, schema: str, table: str, op: str) -> bool:
        """True when a change of ``op`` on ``schema.table`` is within this binding (filters aside)."""
        return (self.event in (op, WILDCARD) and self.schema in (schema, WILDCARD)
                and self.table in (None, WILDCARD, table))


@dataclass(eq=False)
class ChannelJoin:
    """One connection's membership of one topic."""

    topic: str
    join_ref: str | None
    auth: Auth
    outbox: Outbox
    bindings: list[Binding] = field(default_factory=list)
    broadcast_self: bool = False
    broadcast_ack: bool = False
    presence_key: str = ""
    presence_enabled: bool = False
    private: bool = False
    may_write: bool | None = None  # a private channel's write check, made at its first broadcast

    @property
    def key(self) -> str:
        return channel_key(self.topic, self.private)

    def tagged(self, frame: Frame) -> Frame:
        """``frame`` as this member receives it: with its join ref."""
        return replace(frame, join_ref=self.join_ref)

    def deliver(self, frame: Frame) -> None:
        """Queue ``frame`` to this member's connection, tagged with its join ref."""
        self.outbox.put(self.tagged(frame))


class Registry:
    """Every live channel join, by topic, and those that watch database changes."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[ChannelJoin, None]] = {}
        self._watchers: dict[ChannelJoin, None] = {}

    def add(self, join: ChannelJoin) -> None:
        self._topics.setdefault(join.key, {})[join] = None
        if join.bindings:
            self._watchers[join] = None

    def remove(self, join: ChannelJoin) -> None:
        members = self._topics.get(join.key, {})
        members.pop(join, None)
        if not members:
            self._topics.pop(join.key, None)
        self._watchers.pop(join, None)

    def members(self, key: str) -> list[ChannelJoin]:
        """The joins of the channel ``key`` (``channel_key``), in join order."""
        return list(self._topics.get(key, {}))

    def watchers(self) -> list[ChannelJoin]:
        """The joins with at least one ``postgres_changes`` binding."""
        return list(self._watchers)

    def __len__(self) -> int:
        return sum(len(members) for members in self._topics.values())
