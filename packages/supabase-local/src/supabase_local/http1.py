"""A small HTTP/1.1 client for the pg_net dispatcher: keep-alive connections per origin, responses parsed by
httptools (the C parser uvicorn uses).

A webhook is one request on a reused connection and a short answer. httpx spent about 2.7 ms of CPU on each
in its pool's bookkeeping (a third of the whole pipeline's cost per job); this does the same work, as pg_net's
libcurl does it, for a fraction of that. Timeouts are the caller's (``asyncio.timeout``); a connection that an
exception or a cancellation interrupts is closed, never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

READ_CHUNK = 65536
_OWN_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})


class HttpError(Exception):
    """The request got no complete response: refused, reset, closed early, or an unreadable answer."""


@dataclass(frozen=True)
class HttpResponse:
    """A complete response: status, headers (lower-case names, repeats joined by ", ") and body."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        """The body as text: the charset the content type names, else UTF-8; undecodable bytes replaced."""
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")


@dataclass
class _Reading:
    """httptools' callbacks collect one response here."""

    headers: dict[str, str] = field(default_factory=dict)
    body: list[bytes] = field(default_factory=list)
    headers_done: bool = False
    complete: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reused: bool) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = reused

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _Stale(Exception):
    """A reused connection was closed by the server before it answered: send again on a new one."""


def _request_bytes(method: str, target: str, host: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        if any(ch in name or ch in value for ch in "\r\n"):
            raise HttpError(f"header {name!r} contains a line break")
        if name.lower() not in _OWN_HEADERS:
            lines.append(f"{name}: {value}")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b"")


class Http11Client:
    """Sends requests over kept-alive connections, at most ``max_idle`` idle ones kept per origin."""

    def __init__(self, max_idle: int = 64) -> None:
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> HttpResponse:
        """Send one request and read its whole response; ``HttpError`` when none came."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"unsupported URL {url!r}: only http:// and https:// with a host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as err:
            raise HttpError(f"invalid port in {url!r}") from err
        origin = _Origin(parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        payload = _request_bytes(method, target, parts.netloc.rpartition("@")[2], headers, body)
        while True:
            connection = self._idle_connection(origin) or await self._connect(origin)
            try:
                response, keep = await self._exchange(connection, payload)
            except _Stale:
                connection.close()
                continue
            except BaseException:
                connection.close()
                raise
            if keep and len(self._idle.setdefault(origin, [])) < self._max_idle:
                connection.reused = True
                self._idle[origin].append(connection)
            else:
                connection.close()
            return response

    async def aclose(self) -> None:
        """Close every idle connection."""
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        connections = self._idle.get(origin)
        while connections:
            connection = connections.pop()
            if not connection.reader.at_eof() and not connection.writer.is_closing():
                return connection
            connection.close()
        return None

    async def _connect(self, origin: _Origin) -> _Connection:
        tls = None
        if origin.scheme == "https":
            self._tls = self._tls or ssl.create_default_context()
            tls = self._tls
        try:
            reader, writer = await asyncio.open_connection(origin.host, origin.port, ssl=tls, limit=READ_CHUNK)
        except OSError as err:
            raise HttpError(f"ConnectError: {err}") from err
        return _Connection(reader, writer, reused=False)

    async def _exchange(self, connection: _Connection, payload: bytes) -> tuple[HttpResponse, bool]:
        reading = _Reading()
        parser = httptools.HttpResponseParser(reading)
        received = 0
        try:
            connection.writer.write(payload)
            await connection.writer.drain()
            while not reading.complete:
                data = await connection.reader.read(READ_CHUNK)
                if not data:
                    if received == 0 and connection.reused:
                        raise _Stale
                    if reading.headers_done and "content-length" not in reading.headers \
                            and "chunked" not in reading.headers.get("transfer-encoding", ""):
                        break  # a body that ends when the server closes the connection
                    raise HttpError("RemoteProtocolError: the server closed the connection before the response "
                                    "was complete")
                received += len(data)
                parser.feed_data(data)
        except (ConnectionError, OSError) as err:
            if received == 0 and connection.reused:
                raise _Stale from err
            raise HttpError(f"{type(err).__name__}: {err}") from err
        except httptools.HttpParserError as err:
            raise HttpError(f"RemoteProtocolError: unreadable response: {err}") from err
        response = HttpResponse(parser.get_status_code(), reading.headers, b"".join(reading.body))
        connection_header = reading.headers.get("connection", "").lower()
        if parser.get_http_version() == "1.0":
            keep = "keep-alive" in connection_header
        else:
            keep = "close" not in connection_header
        return response, reading.complete and keep
