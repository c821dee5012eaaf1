"""The websocket endpoint ``/realtime/v1/websocket``: authenticate, then pump frames both ways.

Each connection runs a reader and a writer; the writer drains the connection's bounded outbox. When the
outbox overflows (the client reads too slowly), only that connection is closed, with 1013.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from supabase_local.realtime.auth import AuthError, authenticate
from supabase_local.realtime.outbox import Outbox
from supabase_local.realtime.protocol import V1, ProtocolError, Serializer
from supabase_local.realtime.session import ClientSession, Hub

log = structlog.get_logger(__name__)

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
CLOSE_DEADLINE_SECONDS = 2.0


async def _read(websocket: WebSocket, session: ClientSession) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("text")
        await session.receive(data if data is not None else message.get("bytes") or b"")


async def _write(websocket: WebSocket, data: str | bytes) -> None:
    if isinstance(data, bytes):
        await websocket.send_bytes(data)
    else:
        await websocket.send_text(data)


class RealtimeEndpoint:
    """The ASGI websocket handler, bound to the shared hub."""

    def __init__(self, hub: Hub, outbox_limit: int) -> None:
        self.hub = hub
        self.outbox_limit = outbox_limit
        self.connections = 0

    async def handle(self, websocket: WebSocket) -> None:
        """Serve one websocket connection until it closes."""
        apikey = websocket.query_params.get("apikey", "")
        try:
            serializer = Serializer(websocket.query_params.get("vsn", V1))
            authenticate(apikey, self.hub.jwt_secret)
        except (ProtocolError, AuthError) as error:
            log.info("realtime.connection_refused", reason=str(error))
            await websocket.close(code=POLICY_VIOLATION, reason=str(error)[:120])
            return
        await websocket.accept()
        session = ClientSession(self.hub, Outbox(serializer, self.outbox_limit), apikey)
        self.connections += 1
        tasks = [asyncio.create_task(_read(websocket, session)),
                 asyncio.create_task(session.outbox.run(lambda data: _write(websocket, data))),
                 asyncio.create_task(session.outbox.overflowed.wait())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.connections -= 1
            session.close()
            session.outbox.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        failure = next((task.exception() for task in tasks[:2] if not task.cancelled() and task.exception()), None)
        if failure is not None and not isinstance(failure, WebSocketDisconnect):
            log.warning("realtime.connection_failed", error=repr(failure))
        if session.outbox.overflowed.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(code=TRY_AGAIN_LATER, reason="client too slow"),
                                       CLOSE_DEADLINE_SECONDS)
