"""The endpoint of ``/rest/v1``: read the HTTP request, plan it (or take the plan kept for its shape), run it in
one transaction as the caller's role, and answer as PostgREST answers."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from supabase_local.rest import negotiation, plan_cache, planner, request_settings
from supabase_local.rest.auth import Authenticator, Identity
from supabase_local.rest.catalog import Catalog
from supabase_local.rest.errors import RestError, from_database
from supabase_local.rest.flight import Flight, Literals, Message, Outcome
from supabase_local.rest.front import Reply, RestRequest
from supabase_local.rest.plan_cache import PlanCache
from supabase_local.rest.query import parse_query
from supabase_local.rest.sqlgen import Shape

log = structlog.get_logger(__name__)

BODY_METHODS = ("POST", "PATCH", "DELETE")


@dataclass(frozen=True, slots=True)
class Work:
    """A request made ready to run: who asks, what its headers asked for, the plan and the message that runs it
    with the statement's parameters, and the role's settings the message applies."""

    identity: Identity
    prefs: negotiation.Preferences
    output: negotiation.Output
    plan: planner.Plan
    message: Message
    params: dict[str, object]
    role_settings: dict[str, str] | None


class RestEndpoint:
    """``/rest/v1/<relation>`` and ``/rest/v1/rpc/<function>``."""

    def __init__(self, pool: AsyncConnectionPool, catalog: Catalog, jwt_secret: str) -> None:
        self.pool = pool
        self.catalog = catalog
        self.auth = Authenticator(jwt_secret)
        self.plans = PlanCache()
        self.literals = Literals()

    async def serve(self, request: RestRequest, name: str, rpc: bool) -> Reply:
        """Tables and views (``rpc`` false): GET/HEAD read, POST insert or upsert, PATCH update, DELETE delete.
        Functions: POST with named JSON arguments, GET/HEAD with query arguments."""
        try:
            work = await self._plan(request, name, rpc)
            outcome = await self._execute(request, work)
            return _respond(work.plan, work.output, outcome)
        except RestError as err:
            if err.status >= 500:
                log.warning("rest.failed", method=request.method, path=request.path, status=err.status,
                            code=err.code, message=err.message)
            response = err.response(request.method == "HEAD")
            return response.status_code, response.raw_headers, bytes(response.body)

    async def _plan(self, request: RestRequest, name: str, rpc: bool) -> Work:
        headers = request.headers
        method = request.method
        schema = negotiation.schema(headers, method, self.catalog.schemas)
        identity = self.auth.authenticate(headers.get("apikey") or request.param("apikey"),
                                          headers.get("authorization"))
        pairs = [(key, value) for key, value in request.pairs if key != "apikey"]
        found = None
        if method in plan_cache.CACHED_METHODS:
            found = plan_cache.shape(method, schema, name, rpc, identity.role, pairs, headers.getlist("prefer"),
                                     headers.getlist("accept"), headers.get("range"))
            kept = self.plans.get(self.catalog.cache, found.key)
            if kept is not None:
                plan, params = kept.plan_for(found.values)
                return Work(identity, kept.prefs, kept.output, plan, kept.message, params, kept.role_settings)
        query = parse_query(pairs)
        window = negotiation.header_range(headers)
        if window is not None:
            query = planner.windowed(query, window)
        body = await request.body() if method in BODY_METHODS else b""
        planned = planner.Request(method, schema, name, rpc, query, negotiation.preferences(headers),
                                  negotiation.output(headers), body)
        cache, plan = await self.catalog.with_cache(lambda cache: (cache, planner.plan(cache, planned)))
        current = self.catalog.cache
        role_settings = current.role_settings.get(identity.role)
        message = Message.compose(request_settings.statement(role_settings), plan)
        if found is not None and cache is current and not self.plans.known(found.key):
            self.plans.offer(cache, planned, plan, message, role_settings, found, window)
        return Work(identity, planned.prefs, planned.output, plan, message, plan.statement.params, role_settings)

    async def _execute(self, request: RestRequest, work: Work) -> Outcome:
        settings = request_settings.values(request, work.identity, work.plan.read_only, work.role_settings)
        flight = Flight(work.message, settings | work.params, work.plan, self.literals)
        identity, prefs = work.identity, work.prefs
        for attempt in (1, 2):
            used: psycopg.AsyncConnection | None = None
            try:
                async with self.pool.connection() as conn:
                    used = conn
                    return await flight.run(conn, prefs)
            except psycopg.Error as err:
                # A connection lost before COMMIT was sent committed nothing (and a read-only request changes
                # nothing), so the request may run again; the pool first drops every idle connection that died
                # with it (a database restart kills them all).
                lost = used is None or used.broken or used.closed
                if attempt == 1 and lost and not flight.committing:
                    log.info("rest.retry_on_new_connection", error=str(err))
                    await self.pool.check()
                    continue
                raise from_database(err, identity.authed) from err
        raise AssertionError("unreachable")


def _content_range(plan: planner.Plan, outcome: Outcome) -> str:
    total = "*" if outcome.total is None else str(outcome.total)
    if plan.kind == "insert" or outcome.rows == 0:
        return f"*/{total}"
    return f"{plan.offset}-{plan.offset + outcome.rows - 1}/{total}"


def _respond(plan: planner.Plan, output: negotiation.Output, outcome: Outcome) -> Reply:
    """PostgREST's status, headers and body for a successful plan, with the headers Starlette's ``Response``
    gave them (``content-length`` unless the status is 204, then ``content-type``)."""
    if plan.void:
        return 204, [], b""
    headers = [(b"content-range", _content_range(plan, outcome).encode("latin-1"))]
    if plan.kind == "insert":
        status = 201
    elif plan.kind in ("update", "delete"):
        status = 200 if plan.shape is not Shape.NONE else 204
    else:
        status = 206 if outcome.total is not None and outcome.rows < outcome.total else 200
    body = b""
    if plan.shape is not Shape.NONE:
        body = outcome.body.encode() if outcome.body is not None else b"null"
    if status != 204:
        headers.append((b"content-length", str(len(body)).encode("latin-1")))
        headers.append((b"content-type", output.media_type.encode("latin-1")))
    return status, headers, body
