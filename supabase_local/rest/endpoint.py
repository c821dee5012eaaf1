"""The Starlette endpoints of ``/rest/v1``: read the HTTP request, plan it, run it in one transaction as
the caller's role, and answer as PostgREST answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import psycopg
import structlog
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import Response

from supabase_local.rest import negotiation, planner, request_settings
from supabase_local.rest.auth import Authenticator, Identity
from supabase_local.rest.catalog import Catalog
from supabase_local.rest.errors import RestError, from_database, singular
from supabase_local.rest.query import parse_query
from supabase_local.rest.sqlgen import Shape

log = structlog.get_logger(__name__)

BEGIN = sql.SQL("begin")
BODY_METHODS = ("POST", "PATCH", "DELETE")
# count=estimated: the exact count up to this many rows, the planner's estimate beyond (PostgREST docs:
# Pagination and Count, "Estimated Count"; the threshold is db-max-rows, 1000 on hosted Supabase).
ESTIMATE_THRESHOLD = 1000


@dataclass(frozen=True)
class Outcome:
    """What the statement produced: the JSON text, the rows it holds, and the total when one was counted."""

    body: str | None
    rows: int
    total: int | None


class RestEndpoint:
    """``/rest/v1/<relation>`` and ``/rest/v1/rpc/<function>``."""

    def __init__(self, pool: AsyncConnectionPool, catalog: Catalog, jwt_secret: str) -> None:
        self.pool = pool
        self.catalog = catalog
        self.auth = Authenticator(jwt_secret)

    async def relation(self, request: Request) -> Response:
        """Tables and views: GET/HEAD read, POST insert or upsert, PATCH update, DELETE delete."""
        return await self._serve(request, rpc=False)

    async def function(self, request: Request) -> Response:
        """Functions: POST with named JSON arguments, GET/HEAD with query arguments."""
        return await self._serve(request, rpc=True)

    async def _serve(self, request: Request, rpc: bool) -> Response:
        head = request.method == "HEAD"
        try:
            identity, planned, plan = await self._plan(request, rpc)
            outcome = await self._execute(request, identity, plan, planned.prefs)
            return _respond(plan, planned, outcome)
        except RestError as err:
            if err.status >= 500:
                log.warning("rest.failed", method=request.method, path=request.url.path, status=err.status,
                            code=err.code, message=err.message)
            return err.response(head)

    async def _plan(self, request: Request, rpc: bool) -> tuple[Identity, planner.Request, planner.Plan]:
        headers = request.headers
        params = request.query_params
        schema = negotiation.schema(headers, request.method, self.catalog.schemas)
        identity = self.auth.authenticate(headers.get("apikey") or params.get("apikey"), headers.get("authorization"))
        query = parse_query([(key, value) for key, value in params.multi_items() if key != "apikey"])
        window = negotiation.header_range(headers)
        if window is not None:
            first, size = window
            limit = size if query.limit is None or size is None else min(size, query.limit)
            query = replace(query, offset=query.offset or first, limit=limit if limit is not None else query.limit)
        body = await request.body() if request.method in BODY_METHODS else b""
        planned = planner.Request(request.method, schema, request.path_params["name"], rpc, query,
                                  negotiation.preferences(headers), negotiation.output(headers), body)
        plan = await self.catalog.with_cache(lambda cache: planner.plan(cache, planned))
        return identity, planned, plan

    async def _execute(self, request: Request, identity: Identity, plan: planner.Plan,
                       prefs: negotiation.Preferences) -> Outcome:
        settings, params = request_settings.for_request(
            request, identity, plan.read_only, self.catalog.cache.role_settings.get(identity.role, {}))
        flight = Flight(settings, params | plan.statement.params, plan)
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


class Flight:
    """One request's statements, sent in as few round trips as its guarantees allow.

    The request settings and the statement travel as one simple-query message with the values bound (and
    quoted) by psycopg on the client. A read-only plan runs in the implicit transaction of that one message:
    one round trip. A plan that writes, or that needs a second statement (the planned count), opens an explicit
    transaction in the same message and commits in a second one, so a connection lost before COMMIT was sent
    committed nothing.
    """

    def __init__(self, settings: sql.Composable, params: dict[str, object], plan: planner.Plan) -> None:
        self.plan = plan
        self.params = params
        self.explicit = not plan.read_only or plan.explain is not None
        parts = [BEGIN, settings, plan.statement.query] if self.explicit else [settings, plan.statement.query]
        # Rendered here without a connection: identifiers are quoted in Python instead of one libpq call each,
        # the same bytes at a fraction of the cost (the server's quoting rules are the standard ones).
        self.query = sql.SQL(";").join(parts).as_bytes(None)
        self.committing = False

    async def run(self, conn: psycopg.AsyncConnection, prefs: negotiation.Preferences) -> Outcome:
        """The plan's outcome; a RestError raised here rolls the explicit transaction back."""
        try:
            cursor = psycopg.AsyncClientCursor(conn)
            try:
                await cursor.execute(self.query, self.params)
            except psycopg.Error as err:
                if not request_settings.lost(err):
                    raise
                # Nothing ran yet (the settings come before the statement): prepare them again and go on.
                if self.explicit:
                    await conn.rollback()
                await request_settings.prepare(conn)
                await cursor.execute(self.query, self.params)
            for _ in range(2 if self.explicit else 1):  # past BEGIN and the settings row
                cursor.nextset()
            outcome = await _outcome(conn, cursor, self.plan, prefs)
            if self.explicit:
                self.committing = True
                await conn.execute(b"commit")
            return outcome
        except BaseException:
            if self.explicit and not self.committing and not conn.broken:
                await conn.rollback()
            raise


async def _outcome(conn: psycopg.AsyncConnection, cursor: psycopg.AsyncClientCursor, plan: planner.Plan,
                   prefs: negotiation.Preferences) -> Outcome:
    """Read the statement's result and check it against what the request demanded."""
    row = await cursor.fetchone() if cursor.description is not None else None
    if row is not None:
        body, rows = row[0], int(row[1])
    else:
        body, rows = None, max(cursor.rowcount, 0)
    total = None
    if plan.counted:
        total = int(row[2]) if row is not None else 0
    elif prefs.count:
        total = rows
    if plan.explain is not None:
        planned = await _planned_rows(conn, plan.explain)
        if prefs.count_method == "planned" or (total is not None and total > ESTIMATE_THRESHOLD):
            total = planned if prefs.count_method == "planned" else max(total or 0, planned)
    if plan.single and rows != 1:
        raise singular(rows)
    if prefs.strict and prefs.max_affected is not None and plan.kind in ("update", "delete") \
            and rows > prefs.max_affected:
        raise RestError(400, "PGRST124", "Query result exceeds max-affected preference constraint",
                        f"The query affects {rows} rows")
    return Outcome(body, rows, total)


async def _planned_rows(conn: psycopg.AsyncConnection, explain: planner.Statement) -> int:
    """The top plan node's row estimate (PostgREST's planned count)."""
    cursor = await conn.execute(explain.query, explain.params)
    row = await cursor.fetchone()
    document = row[0] if row is not None else None
    if isinstance(document, str):
        document = json.loads(document)
    return int(document[0]["Plan"]["Plan Rows"]) if document else 0


def _content_range(plan: planner.Plan, outcome: Outcome) -> str:
    total = "*" if outcome.total is None else str(outcome.total)
    if plan.kind == "insert" or outcome.rows == 0:
        return f"*/{total}"
    return f"{plan.offset}-{plan.offset + outcome.rows - 1}/{total}"


def _respond(plan: planner.Plan, request: planner.Request, outcome: Outcome) -> Response:
    """PostgREST's status, headers and body for a successful plan."""
    if plan.void:
        return Response(status_code=204)
    headers = {"Content-Range": _content_range(plan, outcome)}
    media_type = request.output.media_type
    if plan.kind == "insert":
        status = 201
    elif plan.kind in ("update", "delete"):
        status = 200 if plan.shape is not Shape.NONE else 204
    else:
        status = 206 if outcome.total is not None and outcome.rows < outcome.total else 200
    if plan.shape is Shape.NONE:
        return Response(b"", status_code=status, headers=headers, media_type=None if status == 204 else media_type)
    text = outcome.body if outcome.body is not None else "null"
    return Response(text.encode(), status_code=status, headers=headers, media_type=media_type)
