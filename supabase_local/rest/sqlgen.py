"""SQL for each REST operation, composed with ``psycopg.sql``: names come from the schema cache and are
quoted with ``sql.Identifier``; every client value is a named parameter.

Each statement returns ``(body, count)``: the JSON text PostgREST would send (built by PostgreSQL, so rows
are never decoded in Python) and the number of rows it holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

from psycopg import sql

from supabase_local.rest.errors import undefined_column
from supabase_local.rest.query import IS_VALUES, Condition, Filter, OrderItem, Query, SelectItem
from supabase_local.rest.schema_cache import Relation, Routine

OPERATORS = {
    "eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "like": "like", "ilike": "ilike",
    "match": "~", "imatch": "~*", "cs": "@>", "cd": "<@", "ov": "&&", "sl": "<<", "sr": ">>", "nxr": "&<",
    "nxl": "&>", "adj": "-|-", "isdistinct": "is distinct from",
}
TEXT_SEARCH = {"fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery",
               "wfts": "websearch_to_tsquery"}
ROWS = sql.Identifier("_pgrst_t")
MUTATED = sql.Identifier("_pgrst_m")
RESULT = sql.Identifier("_pgrst_r")
ARGS = sql.Identifier("_pgrst_a")
CALLED = sql.Identifier("_pgrst_c")
VALUE_NAME = "_pgrst_v"
VALUE = sql.Identifier(VALUE_NAME)


class Shape(Enum):
    """How rows become the response body."""

    ARRAY = "array"      # a JSON array of rows
    OBJECT = "object"    # the first row alone (or null); the caller checks the count when it must be 1
    NONE = "none"        # no body (HEAD, return=minimal)


class Params(dict):
    """Named parameters; ``add`` returns the placeholder for a value."""

    def add(self, value: object) -> sql.Placeholder:
        name = f"p{len(self)}"
        self[name] = value
        return sql.Placeholder(name)


@dataclass(frozen=True)
class Source:
    """What filters and ``select`` refer to: a relation's (or a function result's) columns under a qualifier."""

    label: str
    columns: tuple[str, ...]
    qualifier: sql.Composable

    def column(self, name: str) -> sql.Composable:
        if name not in self.columns:
            raise undefined_column(self.label, name)
        return sql.SQL("{}.{}").format(self.qualifier, sql.Identifier(name))

    def requalified(self, qualifier: sql.Composable) -> Source:
        return Source(self.label, self.columns, qualifier)


@dataclass
class Statement:
    """One SQL statement and its parameters."""

    query: sql.Composable
    params: Params


def _filter(source: Source, item: Filter, params: Params) -> sql.Composable:
    column = source.column(item.column)
    if item.operator == "in":
        if not item.value:
            expr: sql.Composable = sql.SQL("false")
        else:
            expr = sql.SQL("{} in ({})").format(column, sql.SQL(", ").join(params.add(v) for v in item.value))
    elif item.operator == "is":
        expr = sql.SQL("{} is {}").format(column, sql.SQL(IS_VALUES[str(item.value)]))
    elif item.operator in TEXT_SEARCH:
        function = sql.SQL(TEXT_SEARCH[item.operator])
        if item.modifier:
            expr = sql.SQL("{} @@ {}({}::regconfig, {})").format(column, function, params.add(item.modifier),
                                                                  params.add(item.value))
        else:
            expr = sql.SQL("{} @@ {}({})").format(column, function, params.add(item.value))
    elif item.modifier in ("any", "all"):
        expr = sql.SQL("{} {} {}({})").format(column, sql.SQL(OPERATORS[item.operator]), sql.SQL(item.modifier),
                                              params.add(item.value))
    else:
        expr = sql.SQL("{} {} {}").format(column, sql.SQL(OPERATORS[item.operator]), params.add(item.value))
    return sql.SQL("not ({})").format(expr) if item.negate else expr


def condition(source: Source, item: Condition, params: Params) -> sql.Composable:
    """One filter or logic tree as a boolean SQL expression."""
    if isinstance(item, Filter):
        return _filter(source, item, params)
    joiner = sql.SQL(" and " if item.conjunction == "and" else " or ")
    parts = [condition(source, child, params) for child in item.items] or [sql.SQL(
        "true" if item.conjunction == "and" else "false")]
    expr = sql.SQL("({})").format(joiner.join(parts))
    return sql.SQL("not {}").format(expr) if item.negate else expr


def where(source: Source, conditions: list[Condition], params: Params) -> sql.Composable:
    """``where ...`` for the conditions, or nothing."""
    if not conditions:
        return sql.SQL("")
    return sql.SQL(" where ") + sql.SQL(" and ").join(condition(source, c, params) for c in conditions)


def _select_item(source: Source, item: SelectItem) -> sql.Composable:
    if item.column == "*":
        return sql.SQL("{}.*").format(source.qualifier)
    expr = source.column(item.column)
    if item.cast:
        expr = sql.SQL("{}::{}").format(expr, sql.Identifier(item.cast))
    if item.alias or item.cast:
        expr = sql.SQL("{} as {}").format(expr, sql.Identifier(item.alias or item.column))
    return expr


def select_list(source: Source, items: tuple[SelectItem, ...]) -> sql.Composable:
    return sql.SQL(", ").join(_select_item(source, item) for item in items)


def _order_item(source: Source, item: OrderItem) -> sql.Composable:
    text = " desc" if item.descending else " asc"
    if item.nulls:
        text += f" nulls {item.nulls}"
    return source.column(item.column) + sql.SQL(text)


def order_by(source: Source, items: tuple[OrderItem, ...]) -> sql.Composable:
    if not items:
        return sql.SQL("")
    return sql.SQL(" order by ") + sql.SQL(", ").join(_order_item(source, item) for item in items)


def page(limit: int | None, offset: int) -> sql.Composable:
    text = sql.SQL("")
    if limit is not None:
        text += sql.SQL(" limit {}").format(sql.Literal(limit))
    if offset:
        text += sql.SQL(" offset {}").format(sql.Literal(offset))
    return text


def body(shape: Shape, strip_nulls: bool, row: sql.Composable = ROWS) -> sql.Composable:
    """The aggregate that turns rows named ``row`` into the response text."""
    if strip_nulls:
        row = sql.SQL("json_strip_nulls(to_json({}))").format(row)
    if shape is Shape.ARRAY:
        return sql.SQL("coalesce(json_agg({}), '[]')::text").format(row)
    if shape is Shape.OBJECT:
        return sql.SQL("(json_agg({}) -> 0)::text").format(row)
    return sql.SQL("null::text")


def read(from_item: sql.Composable, source: Source, query: Query, shape: Shape, strip_nulls: bool,
         params: Params, counted: bool, scalar: bool = False) -> Statement:
    """The page of rows a GET asks for as ``(body, rows, total)``; ``total`` counts every matching row when
    ``counted`` (else null), in the same statement. ``scalar`` rows are the bare values of a function."""
    filters = where(source, query.conditions, params)
    chosen = source.column(VALUE_NAME) if scalar else select_list(source, query.select)
    rows = sql.SQL("select {} from {}{}{}{}").format(chosen, from_item, filters, order_by(source, query.order),
                                                     page(query.limit, query.offset))
    row = sql.SQL("{}.{}").format(ROWS, VALUE) if scalar else ROWS
    total = sql.SQL("(select count(*) from {}{})").format(from_item, filters) if counted else sql.SQL("null::bigint")
    main = sql.SQL("select {}, count(*), {} from ({}) {}").format(body(shape, strip_nulls and not scalar, row), total,
                                                                 rows, ROWS)
    return Statement(main, params)


def nothing(shape: Shape) -> Statement:
    """A statement answering "no rows" in ``shape`` (a PATCH with an empty object changes nothing)."""
    empty = "[]" if shape is Shape.ARRAY else None
    return Statement(sql.SQL("select {}::text, 0::bigint").format(sql.Literal(empty)), Params())


def relation_source(relation: Relation) -> Source:
    return Source(relation.name, relation.columns, sql.Identifier(relation.schema, relation.name))


def _returning(relation: Relation, mutation: sql.Composable, query: Query, shape: Shape,
               strip_nulls: bool) -> sql.Composable:
    if shape is Shape.NONE:
        return mutation
    target = sql.Identifier(relation.schema, relation.name)
    source = relation_source(relation).requalified(MUTATED)
    return sql.SQL("with {} as ({} returning {}.*) select {}, count(*) from (select {} from {}) {}").format(
        MUTATED, mutation, target, body(shape, strip_nulls), select_list(source, query.select), MUTATED, ROWS)


def _values_with_defaults(target: sql.Composable, columns: tuple[str, ...], rows: list[dict[str, object]],
                          params: Params) -> sql.Composable:
    """``values (...), ...`` where each row gives its own keys (typed as the columns) and ``default`` for the rest."""
    lines = []
    for row in rows:
        record = sql.SQL("json_populate_record(null::{}, {}::json)").format(target, params.add(json.dumps(row)))
        cells = (sql.SQL("({}).{}").format(record, sql.Identifier(c)) if c in row else sql.SQL("default")
                 for c in columns)
        lines.append(sql.SQL("({})").format(sql.SQL(", ").join(cells)))
    return sql.SQL("values ") + sql.SQL(", ").join(lines)


def insert(relation: Relation, columns: tuple[str, ...], rows: list[dict[str, object]], rows_json: str,
           query: Query, resolution: str | None, shape: Shape, strip_nulls: bool, missing_default: bool) -> Statement:
    """``insert ... select from json_populate_recordset`` (keys a row lacks are null) or, with
    ``missing_default``, ``insert ... values`` with ``default`` for them; plus the upsert clause ``resolution``
    asks for."""
    params = Params()
    target = sql.Identifier(relation.schema, relation.name)
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    records = sql.SQL("json_populate_recordset(null::{}, {}::json)").format(target, params.add(rows_json))
    if columns and rows and missing_default:
        mutation = sql.SQL("insert into {} ({}) {}").format(target, names,
                                                            _values_with_defaults(target, columns, rows, params))
    elif columns:
        mutation = sql.SQL("insert into {} ({}) select {} from {}").format(target, names, names, records)
    else:
        mutation = sql.SQL("insert into {} select from {}").format(target, records)
    if resolution is not None:
        conflict = query.on_conflict or relation.primary_key
        arbiter = sql.SQL(" ({})").format(sql.SQL(", ").join(sql.Identifier(c) for c in conflict)) \
            if conflict else sql.SQL("")
        if resolution == "merge" and columns:
            assignments = sql.SQL(", ").join(sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c))
                                             for c in columns)
            mutation += sql.SQL(" on conflict{} do update set {}").format(arbiter, assignments)
        else:
            mutation += sql.SQL(" on conflict{} do nothing").format(arbiter)
    return Statement(_returning(relation, mutation, query, shape, strip_nulls), params)


def update(relation: Relation, columns: tuple[str, ...], row_json: str, query: Query, shape: Shape,
           strip_nulls: bool) -> Statement:
    """``update ... set (cols) = (select cols from json_populate_record(...)) where ...``."""
    params = Params()
    target = sql.Identifier(relation.schema, relation.name)
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    filters = where(relation_source(relation), query.conditions, params)
    mutation = sql.SQL("update {} set ({}) = (select {} from json_populate_record(null::{}, {}::json)){}").format(
        target, names, names, target, params.add(row_json), filters)
    return Statement(_returning(relation, mutation, query, shape, strip_nulls), params)


def delete(relation: Relation, query: Query, shape: Shape, strip_nulls: bool) -> Statement:
    params = Params()
    target = sql.Identifier(relation.schema, relation.name)
    mutation = sql.SQL("delete from {}{}").format(target, where(relation_source(relation), query.conditions, params))
    return Statement(_returning(relation, mutation, query, shape, strip_nulls), params)


def _call(routine: Routine, args: dict[str, object], raw_body: str | None, params: Params) -> sql.Composable:
    """The FROM items that call ``routine``: its named arguments typed by ``json_to_record``, then the call.

    A function of one unnamed json/jsonb parameter gets the whole request body instead.
    """
    function = sql.Identifier(routine.schema, routine.name)
    if routine.single_json_body:
        return sql.SQL("{}({}::{})").format(function, params.add(raw_body or "{}"), sql.SQL(routine.params[0].type))
    chosen = [p for p in routine.params if p.name in args]
    if not chosen:
        return sql.SQL("{}()").format(function)
    definition = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(p.name), sql.SQL(p.type)) for p in chosen)
    arguments = sql.SQL(", ").join(
        sql.SQL("{}{} => {}.{}").format(sql.SQL("variadic " if p.variadic else ""), sql.Identifier(p.name), ARGS,
                                        sql.Identifier(p.name)) for p in chosen)
    record = params.add(json.dumps({p.name: args[p.name] for p in chosen}))
    return sql.SQL("json_to_record({}::json) as {}({}), {}({})").format(record, ARGS, definition, function, arguments)


def rpc(routine: Routine, args: dict[str, object], raw_body: str | None, query: Query, shape: Shape,
        strip_nulls: bool, counted: bool) -> Statement:
    """Call a function and shape its result as PostgREST does (void, scalar, set of scalars, composite rows).

    The call runs once, in a materialized CTE that the page and the count both read, so a volatile function
    never acts twice.
    """
    params = Params()
    call = _call(routine, args, raw_body, params)
    if routine.returns_void:
        return Statement(sql.SQL("select null::text, count(*), null::bigint from {} as {}({})").format(
            call, RESULT, VALUE), params)
    if routine.returns_composite:
        called = sql.SQL("{} as {}").format(call, RESULT)
        source = Source(routine.name, routine.out_columns, RESULT)
    else:
        called = sql.SQL("{} as {}({})").format(call, RESULT, VALUE)
        source = Source(routine.name, (VALUE_NAME,), RESULT)
    page_of = read(sql.SQL("{} as {}").format(CALLED, RESULT), source, query, shape, strip_nulls, params, counted,
                   scalar=not routine.returns_composite)
    once = sql.SQL("with {} as materialized (select {}.* from {}) ").format(CALLED, RESULT, called)
    return Statement(once + page_of.query, params)
