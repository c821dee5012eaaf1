"""From a parsed request and the schema cache to a Plan: the SQL to run and how to answer with its result.

Planning is pure: it reads the cache and raises RestError for anything it cannot serve, before any
database work starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from psycopg import sql

from supabase_local.rest import embedding, inline, sqlgen
from supabase_local.rest.errors import RestError, column_not_found, invalid_body, table_not_found
from supabase_local.rest.negotiation import Output, Preferences
from supabase_local.rest.query import Embed, Query, parse_filters
from supabase_local.rest.routines import resolve, table_hint
from supabase_local.rest.schema_cache import Relation, SchemaCache
from supabase_local.rest.sqlgen import ReadNode, Shape, Statement


@dataclass(frozen=True)
class Request:
    """What the endpoint read from HTTP; the planner needs nothing else."""

    method: str
    schema: str
    name: str
    rpc: bool
    query: Query
    prefs: Preferences
    output: Output
    body: bytes


@dataclass
class Plan:
    """The statement to run and the recipe for the response."""

    kind: str                      # read | insert | update | delete | rpc
    statement: Statement
    shape: Shape
    read_only: bool
    offset: int = 0
    counted: bool = False          # the statement's third column is the total, asked for while paging
    void: bool = False
    single: bool = False           # Accept asked for exactly one object
    explain: Statement | None = None  # for count=planned|estimated: the EXPLAIN whose row estimate is used


def windowed(query: Query, window: tuple[int, int | None]) -> Query:
    """The query paged by a ``Range`` header's ``(first, size)``: its offset unless the query has one, and the
    smaller of the two limits."""
    first, size = window
    limit = size if query.limit is None or size is None else min(size, query.limit)
    return replace(query, offset=query.offset or first, limit=limit if limit is not None else query.limit)


def _text(raw: bytes) -> str:
    """The body as UTF-8 text (PostgREST refuses other bytes as invalid JSON)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise invalid_body("Empty or invalid json") from err


def _json_body(raw: bytes) -> object:
    text = _text(raw)
    try:
        return json.loads(text) if text.strip() else None
    except (ValueError, RecursionError) as err:
        raise invalid_body("Empty or invalid json") from err


def _relation(cache: SchemaCache, request: Request) -> Relation:
    relation = cache.relations.get((request.schema, request.name))
    if relation is None:
        error = table_not_found(request.schema, request.name)
        error.hint = table_hint(cache, request.schema, request.name)
        raise error
    return relation


def _checked_columns(relation: Relation, columns: tuple[str, ...]) -> tuple[str, ...]:
    for column in columns:
        if column not in relation.columns:
            raise column_not_found(relation.name, column)
    return columns


def _shape(request: Request, wants_body: bool) -> Shape:
    if not wants_body or request.method == "HEAD":
        return Shape.NONE
    if request.output.csv:
        return Shape.CSV
    return Shape.OBJECT if request.output.single else Shape.ARRAY


def _filtered(query: Query, params: list[tuple[str, str]]) -> Query:
    """The query with its filter parameters parsed in (a copy: a plan may be made twice)."""
    return replace(query, conditions=[*query.conditions, *parse_filters(params)])


def _paged(query: Query) -> bool:
    return query.limit is not None or query.offset > 0


def _tree(cache: SchemaCache, relation: Relation, query: Query, qualifier: sql.Identifier,
          from_item: sql.Composable) -> ReadNode:
    source = sqlgen.relation_source(relation).requalified(qualifier)
    return embedding.tree(cache, relation, query, source, from_item)


def _returned(cache: SchemaCache, request: Request, relation: Relation) -> ReadNode:
    """How a mutation's response reads the rows it changed: its ``select`` (embeds too), no filters."""
    query = Query(select=request.query.select, embedded=request.query.embedded)
    return _tree(cache, relation, query, sqlgen.MUTATED, sqlgen.MUTATED)


def _read(cache: SchemaCache, request: Request, relation: Relation) -> Plan:
    query = _filtered(request.query, request.query.params)
    alias = sql.Identifier("_pgrst_t0")
    node = _tree(cache, relation, query, alias,
                 sql.SQL("{} as {}").format(inline.name(relation.schema, relation.name), alias))
    method = request.prefs.count_method
    counted = method in ("exact", "estimated") and _paged(query)
    shape = _shape(request, True)
    main = sqlgen.read(node, shape, request.output.strip_nulls, sqlgen.Params(), counted)
    explain = sqlgen.explain_count(node) if method in ("planned", "estimated") else None
    return Plan("read", main, shape, True, query.offset, counted, single=request.output.single, explain=explain)


def _insert(cache: SchemaCache, request: Request, relation: Relation) -> Plan:
    payload = _json_body(request.body)
    if payload is None:
        payload = {}
    rows = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(row, dict) for row in rows):
        raise invalid_body("Expected a JSON object or an array of JSON objects")
    columns = request.query.columns
    if columns is None:
        columns = tuple(rows[0]) if rows else ()
        if any(set(row) != set(columns) for row in rows):
            raise invalid_body("All object keys must match")
    query = request.query
    _checked_columns(relation, columns)
    if query.on_conflict:
        _checked_columns(relation, query.on_conflict)
    rows_json = json.dumps(rows) if isinstance(payload, dict) else _text(request.body)
    shape = _shape(request, request.prefs.representation)
    statement = sqlgen.insert(relation, columns, rows, rows_json, query, request.prefs.resolution, shape,
                              request.output.strip_nulls, request.prefs.missing_default,
                              _returned(cache, request, relation))
    return Plan("insert", statement, shape, False, single=request.output.single)


def _update(cache: SchemaCache, request: Request, relation: Relation) -> Plan:
    payload = _json_body(request.body)
    if not isinstance(payload, dict):
        raise invalid_body("Expected a JSON object to update with")
    query = _filtered(request.query, request.query.params)
    columns = _checked_columns(relation, tuple(payload))
    shape = _shape(request, request.prefs.representation)
    if not columns:
        return Plan("update", sqlgen.nothing(shape), shape, False, single=request.output.single)
    statement = sqlgen.update(relation, columns, _text(request.body), query, shape, request.output.strip_nulls,
                              _returned(cache, request, relation))
    return Plan("update", statement, shape, False, single=request.output.single)


def _delete(cache: SchemaCache, request: Request, relation: Relation) -> Plan:
    query = _filtered(request.query, request.query.params)
    shape = _shape(request, request.prefs.representation)
    statement = sqlgen.delete(relation, query, shape, request.output.strip_nulls, _returned(cache, request, relation))
    return Plan("delete", statement, shape, False, single=request.output.single)


def _rpc(cache: SchemaCache, request: Request) -> Plan:
    query = request.query
    embedding.check_no_scopes(query)
    for item in query.select:
        if isinstance(item, Embed):
            raise RestError(400, "PGRST200", f"Could not find a relationship between '{request.name}' and "
                            f"'{item.name}' in the schema cache", f"Searched for a foreign key relationship "
                            f"between '{request.name}' and '{item.name}' in the schema '{request.schema}', but no "
                            "matches were found.")
    raw_body: str | None = None
    if request.method == "POST":
        payload = _json_body(request.body)
        raw_body = _text(request.body) if payload is not None else None
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            routine = resolve(cache, request.schema, request.name, [], exact=True)
            if not routine.single_json_body:
                raise invalid_body("Expected a JSON object of named arguments")
            args: dict[str, object] = {}
        else:
            routine = resolve(cache, request.schema, request.name, list(payload), exact=True)
            args = payload
        filters = query.params
    else:
        keys = [key for key, _ in query.params]
        routine = resolve(cache, request.schema, request.name, keys, exact=False)
        args = {key: value for key, value in query.params if key in routine.names}
        filters = [(key, value) for key, value in query.params if key not in routine.names]
    query = _filtered(query, filters)
    shape = _shape(request, True)
    if shape is Shape.ARRAY and not routine.returns_set:
        shape = Shape.OBJECT
    counted = request.prefs.count_method in ("exact", "estimated") and _paged(query)
    main = sqlgen.rpc(routine, args, raw_body, query, shape, request.output.strip_nulls, counted)
    return Plan("rpc", main, shape, request.method in ("GET", "HEAD"), query.offset, counted,
                void=routine.returns_void, single=request.output.single)


def plan(cache: SchemaCache, request: Request) -> Plan:
    """The Plan for a request; raises RestError for unknown names, bad input or unsupported methods."""
    if request.rpc:
        if request.method not in ("GET", "HEAD", "POST"):
            raise RestError(405, "PGRST101", f"Cannot use the {request.method} method on RPC")
        return _rpc(cache, request)
    relation = _relation(cache, request)
    handlers = {"GET": _read, "HEAD": _read, "POST": _insert, "PATCH": _update, "DELETE": _delete}
    handler = handlers.get(request.method)
    if handler is None:
        raise RestError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
    return handler(cache, request, relation)
