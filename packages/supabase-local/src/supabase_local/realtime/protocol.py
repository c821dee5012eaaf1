"""Phoenix channel frames and the two serializers Supabase Realtime speaks.

``vsn=1.0.0`` (the Python client) sends JSON objects ``{"join_ref", "ref", "topic", "event", "payload"}``.
``vsn=2.0.0`` (supabase-js's default) sends JSON arrays ``[join_ref, ref, topic, event, payload]`` and carries
user broadcasts as binary frames. Client to server (kind 3): ``kind, len(join_ref), len(ref), len(topic),
len(event), len(meta), encoding`` then those strings and the payload; server to client (kind 4): ``kind,
len(topic), len(event), len(meta), encoding`` then topic, event, meta and the payload. Encoding 1 is JSON.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

PHOENIX_TOPIC = "phoenix"
V1 = "1.0.0"
V2 = "2.0.0"
SUPPORTED_VSN = (V1, V2)
USER_BROADCAST_PUSH = 3
USER_BROADCAST = 4
JSON_ENCODING = 1


class RawJson(str):
    """JSON text already encoded (a database broadcast's payload as Postgres wrote it), put into a frame as it
    is: a large payload parsed and encoded again only to be sent on cost the gateway more than the rest of the
    frame."""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _payload_json(payload: dict[str, Any]) -> str:
    """A frame's payload as JSON, with an inner ``payload`` that is ``RawJson`` spliced in as it is."""
    inner = payload.get("payload")
    if not isinstance(inner, RawJson):
        return _dumps(payload)
    rest = _dumps({key: value for key, value in payload.items() if key != "payload"})
    return f'{rest[:-1]}{"," if len(rest) > 2 else ""}"payload":{inner}}}'


class ProtocolError(ValueError):
    """A frame that is not a Phoenix message; the reason is sent back to the client."""


@dataclass
class Frame:
    """One Phoenix message, whichever serializer carried it."""

    topic: str
    event: str
    payload: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None
    join_ref: str | None = None


def _optional_str(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ProtocolError(f"{name} must be a string or null")


def _frame(topic: object, event: object, payload: object, ref: object, join_ref: object) -> Frame:
    if not isinstance(topic, str) or not topic:
        raise ProtocolError("topic must be a non-empty string")
    if not isinstance(event, str) or not event:
        raise ProtocolError("event must be a non-empty string")
    if not isinstance(payload, dict):
        raise ProtocolError("payload must be a JSON object")
    return Frame(topic, event, payload, _optional_str(ref, "ref"), _optional_str(join_ref, "join_ref"))


class Serializer:
    """Turns websocket messages into frames and back for one protocol version."""

    def __init__(self, vsn: str) -> None:
        if vsn not in SUPPORTED_VSN:
            raise ProtocolError(f"unsupported serializer vsn={vsn!r}; use one of {', '.join(SUPPORTED_VSN)}")
        self.vsn = vsn

    def decode(self, message: str | bytes) -> Frame:
        """Parse one client message; raises ProtocolError with a reason a person can act on."""
        if isinstance(message, bytes):
            return self._decode_binary(message)
        try:
            data = json.loads(message)
        except ValueError as error:
            raise ProtocolError(f"malformed JSON: {error}") from error
        if self.vsn == V1:
            if not isinstance(data, dict):
                raise ProtocolError("vsn 1.0.0 expects a JSON object {topic, event, payload, ref, join_ref}")
            return _frame(data.get("topic"), data.get("event"), data.get("payload"), data.get("ref"),
                          data.get("join_ref"))
        if not isinstance(data, list) or len(data) != 5:
            raise ProtocolError("vsn 2.0.0 expects a JSON array [join_ref, ref, topic, event, payload]")
        join_ref, ref, topic, event, payload = data
        return _frame(topic, event, payload, ref, join_ref)

    def _decode_binary(self, message: bytes) -> Frame:
        """A vsn 2.0.0 binary user broadcast (kind 3) as an ordinary broadcast frame."""
        if self.vsn != V2 or len(message) < 7 or message[0] != USER_BROADCAST_PUSH:
            raise ProtocolError("binary frames are accepted only as vsn 2.0.0 user broadcasts (kind 3)")
        sizes, offset, fields = message[1:6], 7, []
        for size in sizes:
            fields.append(message[offset:offset + size].decode("utf-8", errors="replace"))
            offset += size
        if offset > len(message):
            raise ProtocolError("truncated binary broadcast frame")
        join_ref, ref, topic, event, _meta = fields
        if message[6] != JSON_ENCODING:
            raise ProtocolError("binary broadcast payloads are not supported; send JSON payloads")
        try:
            body = json.loads(message[offset:])
        except ValueError as error:
            raise ProtocolError(f"malformed JSON in binary broadcast: {error}") from error
        return _frame(topic, "broadcast", {"type": "broadcast", "event": event, "payload": body}, ref or None,
                      join_ref or None)

    def encode(self, frame: Frame) -> str | bytes:
        """The wire form of a server frame (``"ref": null`` always present, as the clients require)."""
        if self.vsn == V1:
            return (f'{{"event":{_dumps(frame.event)},"payload":{_payload_json(frame.payload)},'
                    f'"ref":{_dumps(frame.ref)},"topic":{_dumps(frame.topic)}}}')
        if frame.event == "broadcast" and frame.ref is None:
            topic, event = frame.topic.encode(), str(frame.payload.get("event", "")).encode()
            body = frame.payload.get("payload")
            body_bytes = (body if isinstance(body, RawJson) else _dumps(body)).encode()
            meta = frame.payload.get("meta")  # a database broadcast's {"id"} (v2_serializer.ex metadata)
            meta_bytes = _dumps(meta).encode() if meta else b""
            if len(topic) < 256 and len(event) < 256 and len(meta_bytes) < 256:
                header = struct.pack("!BBBBB", USER_BROADCAST, len(topic), len(event), len(meta_bytes),
                                     JSON_ENCODING)
                return header + topic + event + meta_bytes + body_bytes
        return (f"[{_dumps(frame.join_ref)},{_dumps(frame.ref)},{_dumps(frame.topic)},{_dumps(frame.event)},"
                f"{_payload_json(frame.payload)}]")


def reply(request: Frame, status: str, response: dict[str, Any]) -> Frame:
    """The ``phx_reply`` answering ``request``."""
    return Frame(request.topic, "phx_reply", {"status": status, "response": response}, request.ref,
                 request.join_ref)


def error_reply(request: Frame, reason: str) -> Frame:
    """A ``phx_reply`` with ``status: error`` and a reason the client shows as CHANNEL_ERROR."""
    return reply(request, "error", {"reason": reason})


def push(topic: str, event: str, payload: dict[str, Any], join_ref: str | None = None) -> Frame:
    """A server push (``ref`` null), e.g. postgres_changes, broadcast, presence_diff, system."""
    return Frame(topic, event, payload, None, join_ref)
