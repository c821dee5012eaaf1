"""The ASGI front of ``/rest/v1``: a REST request is served here, ahead of Starlette's middleware and router,
from the ASGI scope itself.

Only what the gateway's two routes would match comes here (``/rest/v1/rpc/<name>`` and ``/rest/v1/<name>``
with one of their methods); anything else goes on to the Starlette app, which answers its 404s and 405s as
before. The front keeps Starlette's behaviour where it shows: the values the request settings carry are
decoded as Starlette decodes them (``RestRequest``), and an unexpected exception gets Starlette's plain 500
before it propagates to the server, as ``ServerErrorMiddleware`` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.datastructures import URL, Headers
from starlette.requests import ClientDisconnect, cookie_parser
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/rest/v1/"
RPC = "rpc/"
METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE", "PUT")
# A path Starlette's URL would give back unchanged (no characters it escapes or urlsplit drops).
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9/_.~!$&'()*+,;=:@%-]*")
_NO_COOKIES = json.dumps({})


class RestRequest:
    """What the gateway reads of one HTTP request, taken from the ASGI scope without Starlette's Request.

    Header values are latin-1 text and the query string is parsed as Starlette parses it
    (``parse_qsl`` of the latin-1 text, blank values kept), so every value matches what the Starlette
    request gave before.
    """

    __slots__ = ("_body", "headers", "method", "pairs", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.headers = Headers(scope=scope)
        query = scope["query_string"]
        self.pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True) if query else []
        self._body: bytes | None = None

    def param(self, name: str) -> str | None:
        """The last value of a query parameter (Starlette's ``query_params.get``)."""
        found = None
        for key, value in self.pairs:
            if key == name:
                found = value
        return found

    @property
    def path(self) -> str:
        """The path as Starlette's ``request.url.path`` gives it."""
        path: str = self.scope["path"]
        if _PLAIN_PATH.fullmatch(path) and not self.scope.get("root_path"):
            return path
        return URL(scope=self.scope).path

    def headers_json(self) -> str:
        """Every header as a JSON object of lower-case names (the last of repeated ones wins)."""
        return json.dumps({key.decode("latin-1").lower(): value.decode("latin-1")
                           for key, value in self.scope["headers"]})

    def cookies_json(self) -> str:
        """Every ``Cookie`` header as one JSON object (Starlette's cookie parsing and merging)."""
        cookies: dict[str, str] = {}
        for header in self.headers.getlist("cookie"):
            cookies.update(cookie_parser(header))
        return json.dumps(cookies) if cookies else _NO_COOKIES

    async def body(self) -> bytes:
        """The whole request body; ``ClientDisconnect`` when the client went away first (as Starlette)."""
        if self._body is None:
            chunks: list[bytes] = []
            while True:
                message = await self.receive()
                if message["type"] == "http.request":
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
                elif message["type"] == "http.disconnect":
                    raise ClientDisconnect()
            self._body = b"".join(chunks)
        return self._body


Reply = tuple[int, list[tuple[bytes, bytes]], bytes]
Serve = Callable[[RestRequest, str, bool], Awaitable[Reply]]


def target(path: str) -> tuple[str, bool] | None:
    """``(name, rpc)`` for a path the REST routes match (``/rest/v1/rpc/{name}``, then ``/rest/v1/{name}``)."""
    if not path.startswith(PREFIX):
        return None
    rest = path[len(PREFIX):]
    if rest.startswith(RPC):
        name = rest[len(RPC):]
        return (name, True) if name and "/" not in name else None
    return (rest, False) if rest and "/" not in rest else None


async def respond(serve: Serve, scope: Scope, receive: Receive, send: Send, name: str, rpc: bool) -> None:
    """Serve one request and send the reply; an exception gets Starlette's plain 500, then propagates."""
    try:
        status, headers, body = await serve(RestRequest(scope, receive), name, rpc)
    except Exception:
        await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
        raise
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RestFront:
    """Serves ``/rest/v1`` requests with ``serve``; passes everything else to ``app``."""

    def __init__(self, app: ASGIApp, serve: Serve) -> None:
        self.app = app
        self.serve = serve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = target(scope["path"]) if scope["type"] == "http" and scope["method"] in METHODS else None
        if found is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        await respond(self.serve, scope, receive, send, *found)


class RestRoute:
    """The same service as a Starlette route's ASGI endpoint, for requests that reach the router."""

    def __init__(self, serve: Serve, rpc: bool) -> None:
        self.serve = serve
        self.rpc = rpc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(self.serve, scope, receive, send, scope["path_params"]["name"], self.rpc)
