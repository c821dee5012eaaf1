"""``POST /hooks/consumers/{queue}``: the seed's Edge Functions as worker endpoints that pg_cron calls through
pg_net. The caller shows the bearer derived from the webhook secret; the body may set the batch's size,
visibility timeout and read limit. The answer says what the batch came to, once it is done."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import structlog
from postgrest.exceptions import APIError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from worker.consumers.batch import drain_once
from worker.consumers.messages import BatchSettings
from worker.consumers.queue_client import QueueClient
from worker.consumers.registry import UnknownQueue, consumer_for
from worker.consumers.token import bearer_matches

log = structlog.get_logger(__name__)

PATH = "/hooks/consumers/{queue}"
MAX_BODY_BYTES = 4096


class ConsumerEndpoints:
    """The consumer routes and the one service-role client they share, opened on first use."""

    def __init__(self, supabase_url: str, service_role_key: str, webhook_key: bytes) -> None:
        self._url = supabase_url
        self._key = service_role_key
        self._webhook_key = webhook_key
        self._client: QueueClient | None = None
        self._connecting = asyncio.Lock()

    async def _queue_client(self) -> QueueClient:
        async with self._connecting:  # two first calls at once open one client, not two
            if self._client is None:
                self._client = await QueueClient.connect(self._url, self._key)
        return self._client

    async def call(self, request: Request) -> JSONResponse:
        """Run one batch of the queue named in the path."""
        if not bearer_matches(request.headers.get("authorization"), self._webhook_key):
            return JSONResponse({"error": "a valid bearer token is required"}, status_code=401)
        try:
            consumer = consumer_for(request.path_params["queue"])
        except UnknownQueue as err:
            return JSONResponse({"error": err.args[0]}, status_code=404)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": f"body exceeds {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            settings = BatchSettings.model_validate(json.loads(body) if body.strip() else {})
        except (ValueError, ValidationError) as err:
            return JSONResponse({"error": f"bad batch settings: {err}"}, status_code=400)
        try:
            report = await drain_once(await self._queue_client(), consumer, settings)
        except (APIError, httpx.HTTPError) as err:
            log.error("consumer.call_failed", queue=consumer.queue, error=str(err))
            return JSONResponse({"error": f"the database call failed: {err}"}, status_code=502)
        return JSONResponse(report.as_dict())

    def routes(self) -> list[Route]:
        """The route to add to the worker's app."""
        return [Route(PATH, self.call, methods=["POST"])]

    @contextlib.asynccontextmanager
    async def lifespan(self, inner: contextlib.AbstractAsyncContextManager[None]) -> AsyncIterator[None]:
        """The app's own lifespan, then close the client, if one was opened, when the app stops."""
        async with inner:
            try:
                yield
            finally:
                if self._client is not None:
                    await self._client.close()
