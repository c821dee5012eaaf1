"""The REST gateway as a stack service: a pool of ``authenticator`` connections, the schema cache and
the ``/rest/v1`` routes."""

from __future__ import annotations

import structlog
from psycopg_pool import AsyncConnectionPool
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from supabase_local.pg_listener import Listener
from supabase_local.rest import request_settings
from supabase_local.rest.catalog import Catalog
from supabase_local.rest.endpoint import RestEndpoint
from supabase_local.rest.front import METHODS, RestFront, RestRoute
from supabase_local.state import StackState

log = structlog.get_logger(__name__)

EXPOSED_SCHEMAS = ("public", "pgmq_public")
POOL_MIN, POOL_MAX = 2, 10
# Connections prepare the request settings once (request_settings.prepare) and run everything else through the
# simple protocol; psycopg's own automatic preparing stays off, since it answers a ROLLBACK with DEALLOCATE ALL.


class RestService:
    """PostgREST's part of Supabase, for the schemas Supabase exposes by default plus ``pgmq_public``."""

    name = "rest"

    def __init__(self, state: StackState, listener: Listener, schemas: tuple[str, ...] = EXPOSED_SCHEMAS) -> None:
        self.pool = AsyncConnectionPool(state.authenticator_url, min_size=POOL_MIN, max_size=POOL_MAX, open=False,
                                        configure=request_settings.prepare,
                                        kwargs={"application_name": "supabase_local.rest", "autocommit": True,
                                                "prepare_threshold": None})
        self.catalog = Catalog(state.authenticator_url, schemas, self.pool, listener)
        self.endpoint = RestEndpoint(self.pool, self.catalog, state.jwt_secret)

    def routes(self) -> list[BaseRoute]:
        """``/rest/v1/rpc/<function>`` and ``/rest/v1/<relation>`` (``front`` serves them first; the routes give
        Starlette's 404 and 405 to paths and methods they do not match)."""
        return [
            Route("/rest/v1/rpc/{name}", RestRoute(self.endpoint.serve, rpc=True), methods=list(METHODS)),
            Route("/rest/v1/{name}", RestRoute(self.endpoint.serve, rpc=False), methods=list(METHODS)),
        ]

    def front(self, app: ASGIApp) -> ASGIApp:
        """``app`` behind the REST front, which serves ``/rest/v1`` requests before Starlette's stack."""
        return RestFront(app, self.endpoint.serve)

    async def start(self) -> None:
        """Open the pool and load the schema cache before the gateway takes requests."""
        await self.pool.open(wait=True, timeout=30)
        await self.catalog.start()
        log.info("rest.ready", schemas=self.catalog.schemas, relations=len(self.catalog.cache.relations))

    async def stop(self) -> None:
        await self.catalog.stop()
        await self.pool.close()

    def health(self) -> str | None:
        """None while the schema listener is connected (so the cache follows DDL)."""
        return None if self.catalog.listening else "schema cache listener is not connected"
