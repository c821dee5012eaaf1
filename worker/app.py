"""The worker's HTTP face: ``POST /hooks/work-queue`` (verify, validate, 202), ``GET /healthz``, ``GET /runs``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from worker.config import WorkerConfig
from worker.consumers.endpoint import ConsumerEndpoints
from worker.intake import BadDelivery, parse_delivery
from worker.outcomes import Admission
from worker.pull import PullPolicy, pull_loop
from worker.rpc import RpcClient
from worker.runner import Runner
from worker.settings import HOOK_PATH
from worker.signature import ReplayGuard, SignatureError, verify

log = structlog.get_logger(__name__)


Connect = Callable[[WorkerConfig], Awaitable[RpcClient]]


class BodyTooLarge(Exception):
    """The request body exceeds the size cap."""


async def _read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(status: int, reason: str, **fields: Any) -> JSONResponse:
    log.warning("hook.refused", status=status, reason=reason, **fields)
    return JSONResponse({"error": reason}, status_code=status)


def effective_settings(config: WorkerConfig, pull: bool) -> dict[str, Any]:
    """The settings a running worker acts on, as ``/healthz`` shows them (``pull``: started with ``--pull``)."""
    return {"concurrency": config.concurrency, "max_backlog": config.max_backlog,
            "lease_seconds": config.lease_seconds, "job_min_seconds": config.job_min_seconds,
            "job_max_seconds": config.job_max_seconds, "max_attempts": config.max_attempts,
            "retry_base_seconds": config.retry_base_seconds, "retry_max_seconds": config.retry_max_seconds,
            "pull": pull}


class Worker:
    """The state behind the routes: settings, replay memory, the runner and the pull loop."""

    def __init__(self, config: WorkerConfig, forced_pull: bool = False, supervisor_pid: int | None = None) -> None:
        self.config = config
        self.forced_pull = forced_pull
        self.supervisor_pid = supervisor_pid
        self.replays = ReplayGuard(config.tolerance_seconds)
        self.settings = effective_settings(config, forced_pull)
        self.runner: Runner | None = None

    async def hook(self, request: Request) -> JSONResponse:
        """Accept one signed delivery; 202 means it is ours to run (or already running here)."""
        runner = self.runner
        if runner is None or not runner.accepting:
            return _refuse(Admission.STOPPING.http_status, "worker is shutting down")
        try:
            body = await _read_capped(request, self.config.max_body_bytes)
        except BodyTooLarge:
            return _refuse(413, f"body exceeds {self.config.max_body_bytes} bytes")
        except ClientDisconnect:
            # The sender went away mid-body (pg_net timed out, a client gave up): nobody is left to answer.
            log.info("hook.disconnected", webhook_id=request.headers.get("webhook-id"))
            return Response(status_code=400)
        now = time.time()
        try:
            webhook_id, timestamp = verify(self.config.webhook_key, request.headers, body, now,
                                           self.config.tolerance_seconds)
            self.replays.remember(webhook_id, timestamp, now)
        except SignatureError as err:
            return _refuse(401, str(err), webhook_id=request.headers.get("webhook-id"))
        try:
            delivery = parse_delivery(body, webhook_id)
        except BadDelivery as err:
            return _refuse(400, str(err), webhook_id=webhook_id)
        admission = runner.submit(delivery)
        status = admission.http_status
        log.info("hook.received", job_id=delivery.job_id, msg_id=delivery.msg_id, webhook_id=webhook_id,
                 outcome=admission.value, status=status)
        return JSONResponse({"outcome": admission.value, "job_id": delivery.job_id}, status_code=status)

    def _process(self) -> dict[str, int | None]:
        """Which process answers, and under which supervisor (several may serve one port)."""
        return {"pid": os.getpid(), "supervisor": self.supervisor_pid}

    async def healthz(self, request: Request) -> JSONResponse:
        """Liveness, load, the job types served and the settings in force: for process managers, ``ensure_worker``
        and the dashboard."""
        runner = self.runner
        process = self._process()
        if runner is None or not runner.accepting:
            return JSONResponse({"status": "stopping", **process}, status_code=503)
        return JSONResponse({"status": "ok", **process, "running": runner.running,
                             "in_flight": runner.in_flight, "waiting_for_slot": runner.waiting_for_slot,
                             "concurrency": self.config.concurrency, "totals": runner.runs.totals,
                             "task_types": runner.registry.names(), "settings": self.settings})

    async def runs(self, request: Request) -> JSONResponse:
        """The newest runs of the process that answers (``?limit=``, default 100): the worker's dashboard."""
        runner = self.runner
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            return JSONResponse({"error": "limit must be an integer"}, status_code=400)
        process = self._process()
        if runner is None:
            return JSONResponse({"runs": [], "totals": {}, **process})
        return JSONResponse({"runs": runner.runs.snapshot(limit), "totals": runner.runs.totals, **process})

    @contextlib.asynccontextmanager
    async def lifespan(self, connect: Connect) -> AsyncIterator[None]:
        """Connect, start the runner and the pull loop; on shutdown stop pulling, drain, disconnect."""
        rpc = await connect(self.config)
        self.runner = Runner(self.config, rpc, pulls=PullPolicy.of(self.config, self.forced_pull))
        stop = asyncio.Event()
        puller = asyncio.create_task(pull_loop(self.runner, stop))
        watcher = asyncio.create_task(self.runner.cancels.watch(stop))
        log.info("worker.started", concurrency=self.config.concurrency, pull=self.forced_pull)
        try:
            yield
        finally:
            stop.set()
            puller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await puller
            await self.runner.drain(self.config.grace_seconds)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await rpc.close()
            log.info("worker.stopped")


class HookFirst:
    """The ASGI app: ``POST /hooks/work-queue`` goes straight to ``Worker.hook``, everything else (and the
    lifespan) through Starlette. Every job arrives on that one route, and Starlette's middleware and router
    cost more per request than the hook's own work."""

    def __init__(self, worker: Worker, app: Starlette) -> None:
        self._worker = worker
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == HOOK_PATH and scope["method"] == "POST":
            response = await self._worker.hook(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)


def create_app(config: WorkerConfig, connect: Connect, forced_pull: bool = False,
               supervisor_pid: int | None = None) -> HookFirst:
    """The ASGI app; ``connect`` builds the RPC caller at startup (supabase-py in production).

    ``supervisor_pid`` is the supervisor's pid when this process is one of several on the port.
    """
    worker = Worker(config, forced_pull, supervisor_pid)
    consumers = ConsumerEndpoints(str(config.supabase_url).rstrip("/"), config.service_role_key, config.webhook_key)
    routes = [
        Route(HOOK_PATH, worker.hook, methods=["POST"]),
        Route("/healthz", worker.healthz, methods=["GET"]),
        Route("/runs", worker.runs, methods=["GET"]),
        *consumers.routes(),
    ]
    return HookFirst(worker, Starlette(routes=routes,
                                       lifespan=lambda _app: consumers.lifespan(worker.lifespan(connect))))
