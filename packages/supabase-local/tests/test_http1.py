"""The dispatcher's HTTP/1.1 client against a real loopback server that answers with raw bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from supabase_local.http1 import Http11Client, HttpError

Answer = Callable[[bytes], bytes | None]  # the raw request → the raw response (None: close without answering)


class RawServer:
    """Answers each request on a connection with ``answer``; counts connections and requests."""

    def __init__(self, answer: Answer, close_after: int | None = None) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook?x=1"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while self.close_after is None or served < self.close_after:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                response = self.answer(request)
                if response is None:
                    break
                writer.write(response)
                await writer.drain()
                served += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    async def start(answer: Answer, close_after: int | None = None) -> RawServer:
        raw = RawServer(answer, close_after)
        raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
        servers.append(raw)
        return raw

    yield start
    for raw in servers:
        raw.server.close()
        await raw.server.wait_closed()


def ok(body: bytes = b'{"ok":true}', extra: str = "") -> Answer:
    return lambda _request: (f"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n{extra}"
                             f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def test_requests_share_one_kept_alive_connection(serve):
    server = await serve(ok())
    client = Http11Client()
    for n in range(3):
        response = await client.request("POST", server.url, {"webhook-id": f"msg_{n}"}, b'{"n": %d}' % n)
        assert (response.status_code, response.headers["content-type"], response.text) == (
            202, "application/json", '{"ok":true}')
    await client.aclose()
    assert server.connections == 1 and len(server.requests) == 3
    first = server.requests[0].decode()
    assert first.startswith("POST /hook?x=1 HTTP/1.1\r\n") and "webhook-id: msg_0" in first
    assert "Content-Length: 8" in first and first.endswith('{"n": 0}')


async def test_a_connection_the_server_closed_while_idle_is_replaced(serve):
    server = await serve(ok(), close_after=1)
    client = Http11Client()
    assert (await client.request("POST", server.url, {}, b"1")).status_code == 202
    await asyncio.sleep(0.05)  # the server has closed the idle connection by now
    assert (await client.request("POST", server.url, {}, b"2")).status_code == 202
    await client.aclose()
    assert server.connections == 2 and len(server.requests) == 2


async def test_chunked_and_close_delimited_bodies_and_a_declared_charset(serve):
    chunked = await serve(lambda _r: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\n"
                                     b"Set-Cookie: b=2\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    closing = await serve(lambda _r: b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=latin-1\r\n"
                                     b"Connection: close\r\n\r\ncaf\xe9", close_after=1)
    client = Http11Client()
    first = await client.request("GET", chunked.url, {}, None)
    assert (first.content, first.headers["set-cookie"]) == (b"abcde", "a=1, b=2")
    second = await client.request("GET", closing.url, {}, None)
    assert second.text == "café"
    await client.aclose()


async def test_failures_are_http_errors_naming_what_went_wrong(serve):
    client = Http11Client()
    silent = await serve(lambda _r: None)
    with pytest.raises(HttpError, match="closed the connection before the response"):
        await client.request("POST", silent.url, {}, b"x")
    garbage = await serve(lambda _r: b"NOT HTTP AT ALL\r\n\r\n")
    with pytest.raises(HttpError, match="unreadable response"):
        await client.request("POST", garbage.url, {}, b"x")
    with pytest.raises(HttpError, match="line break"):
        await client.request("POST", garbage.url, {"x-evil": "a\r\nInjected: yes"}, b"x")
    with pytest.raises(HttpError, match="only http:// and https://"):
        await client.request("POST", "ftp://127.0.0.1/x", {}, b"x")
    refused = silent.url.replace(str(silent.server.sockets[0].getsockname()[1]), "9")
    with pytest.raises(HttpError, match="ConnectError"):
        await client.request("POST", refused, {}, b"x")
    await client.aclose()


async def test_a_request_cut_by_its_timeout_leaves_no_connection_behind():
    release = asyncio.Event()

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    client = Http11Client()
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await client.request("POST", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", {}, b"x")
        assert all(not connections for connections in client._idle.values())
    finally:
        release.set()
        await client.aclose()
        server.close()
        await server.wait_closed()
