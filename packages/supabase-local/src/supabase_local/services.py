"""The stack's long-running process: the HTTP gateway (REST, Auth and Realtime on one port) and the background
services (pg_net dispatcher, cron runner). ``python -m supabase_local start`` launches it detached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp
from uvicorn.loops.auto import auto_loop_factory

from supabase_local import realtime
from supabase_local.auth import AuthService
from supabase_local.cron_runner import CronRunner
from supabase_local.logs import configure_logging
from supabase_local.net_dispatcher import NetDispatcher
from supabase_local.pg_listener import Listener
from supabase_local.rest import RestService
from supabase_local.service import Service, ServiceFactory
from supabase_local.state import StackState, load_state, state_dir

log = structlog.get_logger(__name__)

LISTEN_DEADLINE_SECONDS = 20.0


def service_factories() -> list[ServiceFactory]:
    """The services that make up the stack, in start order."""
    return [NetDispatcher.from_state, CronRunner.from_state, RestService, _auth, realtime.create]


def _auth(state: StackState, _listener: Listener) -> AuthService:
    """Auth listens for nothing."""
    return AuthService(state)


def build_gateway(services: list[Service]) -> ASGIApp:
    """One Starlette app on one port: ``/health`` plus every service's routes, behind the fronts of services
    that serve their busiest paths ahead of Starlette's stack (REST)."""

    async def health(_: Request) -> JSONResponse:
        problems = {svc.name: reason for svc in services if (reason := svc.health()) is not None}
        body = {"status": "ok" if not problems else "degraded",
                "services": {svc.name: problems.get(svc.name, "ok") for svc in services}}
        return JSONResponse(body, status_code=200 if not problems else 503)

    routes = [Route("/health", health)]
    for svc in services:
        routes.extend(svc.routes())
    app: ASGIApp = Starlette(routes=routes)
    for svc in services:
        front = getattr(svc, "front", None)
        if front is not None:
            app = front(app)
    return app


async def serve(state: StackState) -> None:
    """Start every service, serve the gateway until SIGTERM/SIGINT, then stop them in reverse order."""
    listener = Listener(state.admin_url)  # one LISTEN connection for every service (pg_listener.py)
    services = [factory(state, listener) for factory in service_factories()]
    started: list[Service] = []
    try:
        for svc in services:
            await svc.start()
            started.append(svc)
            log.info("service.started", service=svc.name)
        # Listen once every service is up (each catches up on what it missed when the listener connects).
        listener.start()
        try:
            await asyncio.wait_for(listener.connected.wait(), LISTEN_DEADLINE_SECONDS)
        except TimeoutError:
            log.warning("services.not_listening", reason=listener.problem)
        config = uvicorn.Config(build_gateway(services), host=state.host, port=state.gateway_port,
                                log_level="warning", lifespan="off", ws_max_size=16 * 1024 * 1024,
                                # hosted Realtime (Phoenix) does not compress frames; deflating each one cost
                                # the gateway and every client CPU for nothing
                                ws_per_message_deflate=False,
                                http="httptools", proxy_headers=False)  # the gateway is the edge itself
        server = uvicorn.Server(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        log.info("gateway.listening", url=state.supabase_url)
        await server.serve()
    finally:
        for svc in reversed(started):
            with contextlib.suppress(Exception):
                await svc.stop()
        await listener.stop()
        log.info("services.stopped")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m supabase_local.services")
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    configure_logging()
    state = load_state(state_dir(args.dir))
    if state is None:
        raise SystemExit(f"no stack state in {args.dir}; run `python -m supabase_local start`")
    # uvicorn's own loop choice (uvloop, from uvicorn[standard]); ``Server.serve`` alone would run on the default loop.
    with asyncio.Runner(loop_factory=auto_loop_factory()) as runner:
        runner.run(serve(state))


if __name__ == "__main__":
    main()
