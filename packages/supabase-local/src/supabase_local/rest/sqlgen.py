"""SQL for each REST operation, composed with ``psycopg.sql``: names come from the schema cache or the request
and are quoted by ``inline.name`` (``sql.Identifier`` that also keeps ``%`` out of the text); every client value
is a named parameter.

Each statement returns ``(body, count)``: the JSON (or CSV) text PostgREST would send (built by PostgreSQL,
so rows are never decoded in Python) and the number of rows it holds.

Reads are a tree of ReadNodes: each embedded resource is a ``left join lateral`` subquery correlated with its
parent through the relationship's columns, aggregated with ``json_agg`` (to-many) or ``row_to_json``
(to-one), or spread into the parent's columns. All of it runs as the request's role, so grants and RLS apply
to every embedded table too. CSV follows PostgREST's ``asCsvF`` (``SqlFragment.hs``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

from psycopg import sql

from supabase_local.rest import inline
from supabase_local.rest.errors import check_text, undefined_column
from supabase_local.rest.query import IS_VALUES, Condition, Filter, JsonPath, OrderItem, Query, SelectItem
from supabase_local.rest.relationships import Relationship
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
EMBEDDED = sql.Identifier("_pgrst_e")
FOUND = sql.Identifier("_pgrst_found")


class Shape(Enum):
    """How rows become the response body."""

    ARRAY = "array"      # a JSON array of rows
    OBJECT = "object"    # the first row alone (or null); the caller checks the count when it must be 1
    CSV = "csv"          # a header line of the first row's keys, then one line per row
    NONE = "none"        # no body (HEAD, return=minimal)


class Params(dict):
    """Named parameters; ``add`` returns the placeholder for a value."""

    def add(self, value: object) -> sql.Placeholder:
        if isinstance(value, str):
            check_text(value)
        name = f"p{len(self)}"
        self[name] = value
        return sql.Placeholder(name)


@dataclass(frozen=True)
class Source:
    """What filters and ``select`` refer to: a relation's (or a function result's) columns under a qualifier."""

    label: str
    columns: tuple[str, ...]
    qualifier: sql.Composable

    def column(self, name: str, path: JsonPath = ()) -> sql.Composable:
        """The qualified column, followed along a JSON path (``->`` / ``->>`` with a key or array index)."""
        if name not in self.columns:
            raise undefined_column(self.label, name)
        expr: sql.Composable = sql.SQL("{}.{}").format(self.qualifier, inline.name(name))
        for arrow, key in path:
            index = key.removeprefix("-").isdecimal() and key.isascii()
            step = sql.Literal(int(key)) if index else inline.text(check_text(key))
            expr = sql.SQL("({} {} {})").format(expr, sql.SQL(arrow), step)
        return expr

    def requalified(self, qualifier: sql.Composable) -> Source:
        return Source(self.label, self.columns, qualifier)


@dataclass
class Statement:
    """One SQL statement and its parameters."""

    query: sql.Composable
    params: Params


@dataclass
class Child:
    """An embedded resource under its parent: the relationship, its response key and how it is shown."""

    node: ReadNode
    rel: Relationship
    label: str
    inner: bool
    spread: bool
    hidden: bool                 # an empty select: it only filters
    lateral: sql.Identifier
    outputs: tuple[str, ...]     # the columns a spread adds to its parent
    junction: sql.Identifier | None = None  # the junction table's alias in a many-to-many child


@dataclass
class ReadNode:
    """One relation of a read: its source, what it selects (columns and children, in order), its filters,
    order and page."""

    source: Source
    from_item: sql.Composable
    select: tuple[SelectItem | Child, ...]
    query: Query
    scalar: bool = False


def _filter(source: Source, item: Filter, params: Params) -> sql.Composable:
    column = source.column(item.column, item.path)
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
    expr = source.column(item.column, item.path)
    if item.cast:
        expr = sql.SQL("{}::{}").format(expr, inline.name(item.cast))
    if item.alias or item.cast or item.path:
        expr = sql.SQL("{} as {}").format(expr, inline.name(check_text(item.output)))
    return expr


def select_list(source: Source, items: tuple[SelectItem, ...]) -> sql.Composable:
    return sql.SQL(", ").join(_select_item(source, item) for item in items)


def _order_item(source: Source, item: OrderItem) -> sql.Composable:
    text = " desc" if item.descending else " asc"
    if item.nulls:
        text += f" nulls {item.nulls}"
    return source.column(item.column, item.path) + sql.SQL(text)


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
    if shape is Shape.CSV:
        header = sql.SQL("coalesce((select string_agg(k, ',') from json_object_keys(json_agg({}) -> 0) as k), '')") \
            .format(row)
        lines = sql.SQL("coalesce(string_agg(substring({r}::text, 2, length({r}::text) - 2), chr(10)), '')").format(
            r=row)
        return sql.SQL("{} || chr(10) || {}").format(header, lines)
    if strip_nulls:
        row = sql.SQL("json_strip_nulls(to_json({}))").format(row)
    if shape is Shape.ARRAY:
        return sql.SQL("coalesce(json_agg({}), '[]')::text").format(row)
    if shape is Shape.OBJECT:
        return sql.SQL("(json_agg({}) -> 0)::text").format(row)
    return sql.SQL("null::text")


def _correlation(child: Child, parent: Source) -> list[sql.Composable]:
    """How the embedded rows meet their parent row: the relationship's columns (through the junction for
    many-to-many, which the child's ``from_item`` joins)."""
    rel, here = child.rel, child.node.source
    if rel.junction is not None and child.junction is not None:
        junction = child.junction
        return [sql.SQL("{}.{} = {}").format(junction, inline.name(jcol), parent.column(col))
                for jcol, col in rel.junction.source]
    return [sql.SQL("{} = {}").format(here.column(target), parent.column(origin)) for origin, target in rel.columns]


def _lateral(child: Child, parent: Source, params: Params) -> sql.Composable:
    inner_rows = rows(child.node, params, _correlation(child, parent), marker=child.spread)
    if child.spread:
        picked = sql.SQL("select {}.* from ({}) {} limit 1").format(EMBEDDED, inner_rows, EMBEDDED)
    elif child.rel.to_one:
        picked = sql.SQL("select row_to_json({}) as {} from ({}) {} limit 1").format(EMBEDDED, VALUE, inner_rows,
                                                                                    EMBEDDED)
    else:
        picked = sql.SQL("select json_agg({}) as {} from ({}) {}").format(EMBEDDED, VALUE, inner_rows, EMBEDDED)
    return sql.SQL(" left join lateral ({}) as {} on true").format(picked, child.lateral)


def _child_items(child: Child) -> list[sql.Composable]:
    if child.hidden:
        return []
    if child.spread:
        return [sql.SQL("{}.{}").format(child.lateral, inline.name(name)) for name in child.outputs]
    value = sql.SQL("{}.{}").format(child.lateral, VALUE)
    if not child.rel.to_one:
        value = sql.SQL("coalesce({}, '[]')").format(value)
    return [sql.SQL("{} as {}").format(value, inline.name(check_text(child.label)))]


def rows(node: ReadNode, params: Params, correlation: list[sql.Composable] | None = None, counting: bool = False,
         marker: bool = False) -> sql.Composable:
    """``select`` of one node's rows with its children joined in; ``counting`` keeps only what decides which
    rows match (no columns, order or page)."""
    source, query = node.source, node.query
    children = [item for item in node.select if isinstance(item, Child)]
    laterals = sql.SQL("").join(_lateral(child, source, params) for child in children)
    tests = list(correlation or [])
    tests += [condition(source, c, params) for c in query.conditions]
    tests += [sql.SQL("{}.{} is not null").format(child.lateral, FOUND if child.spread else VALUE)
              for child in children if child.inner]
    filters = sql.SQL(" where ") + sql.SQL(" and ").join(tests) if tests else sql.SQL("")
    if counting:
        return sql.SQL("select 1 from {}{}{}").format(node.from_item, laterals, filters)
    if node.scalar:
        items: list[sql.Composable] = [source.column(VALUE_NAME)]
    else:
        items = []
        for item in node.select:
            items += _child_items(item) if isinstance(item, Child) else [_select_item(source, item)]
    if marker:
        items.append(sql.SQL("true as {}").format(FOUND))
    return sql.SQL("select {} from {}{}{}{}{}").format(sql.SQL(", ").join(items), node.from_item, laterals, filters,
                                                       order_by(source, query.order), page(query.limit, query.offset))


def read(node: ReadNode, shape: Shape, strip_nulls: bool, params: Params, counted: bool) -> Statement:
    """The page of rows a GET asks for as ``(body, rows, total)``; ``total`` counts every matching row when
    ``counted`` (else null), in the same statement. Scalar rows are the bare values of a function."""
    page_rows = rows(node, params)
    row = sql.SQL("{}.{}").format(ROWS, VALUE) if node.scalar else ROWS
    total = sql.SQL("(select count(*) from ({}) as {})").format(rows(node, params, counting=True), EMBEDDED) \
        if counted else sql.SQL("null::bigint")
    main = sql.SQL("select {}, count(*), {} from ({}) {}").format(body(shape, strip_nulls and not node.scalar, row),
                                                                 total, page_rows, ROWS)
    return Statement(main, params)


def explain_count(node: ReadNode) -> Statement:
    """``explain`` of the rows a read matches: PostgreSQL's row estimate is PostgREST's planned count."""
    params = Params()
    return Statement(sql.SQL("explain (format json) {}").format(rows(node, params, counting=True)), params)


def nothing(shape: Shape) -> Statement:
    """A statement answering "no rows" in ``shape`` (a PATCH with an empty object changes nothing)."""
    empty = "[]" if shape is Shape.ARRAY else None
    return Statement(sql.SQL("select {}::text, 0::bigint").format(sql.Literal(empty)), Params())


def relation_source(relation: Relation) -> Source:
    return Source(relation.name, relation.columns, inline.name(relation.schema, relation.name))


def _returning(relation: Relation, mutation: sql.Composable, returned: ReadNode, shape: Shape, strip_nulls: bool,
               params: Params) -> sql.Composable:
    """The mutation, and the response built from the rows it returned (``returned`` reads them, embeds and all)."""
    if shape is Shape.NONE:
        return mutation
    target = inline.name(relation.schema, relation.name)
    return sql.SQL("with {} as ({} returning {}.*) select {}, count(*) from ({}) {}").format(
        MUTATED, mutation, target, body(shape, strip_nulls), rows(returned, params), ROWS)


def _values_with_defaults(target: sql.Composable, columns: tuple[str, ...], rows: list[dict[str, object]],
                          params: Params) -> sql.Composable:
    """``values (...), ...`` where each row gives its own keys (typed as the columns) and ``default`` for the rest."""
    lines = []
    for row in rows:
        record = sql.SQL("json_populate_record(null::{}, {}::json)").format(target, params.add(json.dumps(row)))
        cells = (sql.SQL("({}).{}").format(record, inline.name(c)) if c in row else sql.SQL("default")
                 for c in columns)
        lines.append(sql.SQL("({})").format(sql.SQL(", ").join(cells)))
    return sql.SQL("values ") + sql.SQL(", ").join(lines)


def insert(relation: Relation, columns: tuple[str, ...], records: list[dict[str, object]], rows_json: str,
           query: Query, resolution: str | None, shape: Shape, strip_nulls: bool, missing_default: bool,
           returned: ReadNode) -> Statement:
    """``insert ... select from json_populate_recordset`` (keys a row lacks are null) or, with
    ``missing_default``, ``insert ... values`` with ``default`` for them; plus the upsert clause ``resolution``
    asks for."""
    params = Params()
    target = inline.name(relation.schema, relation.name)
    names = sql.SQL(", ").join(inline.name(c) for c in columns)
    recordset = sql.SQL("json_populate_recordset(null::{}, {}::json)").format(target, params.add(rows_json))
    if columns and records and missing_default:
        mutation = sql.SQL("insert into {} ({}) {}").format(target, names,
                                                            _values_with_defaults(target, columns, records, params))
    elif columns:
        mutation = sql.SQL("insert into {} ({}) select {} from {}").format(target, names, names, recordset)
    else:
        mutation = sql.SQL("insert into {} select from {}").format(target, recordset)
    if resolution is not None:
        conflict = query.on_conflict or relation.primary_key
        arbiter = sql.SQL(" ({})").format(sql.SQL(", ").join(inline.name(c) for c in conflict)) \
            if conflict else sql.SQL("")
        if resolution == "merge" and columns:
            assignments = sql.SQL(", ").join(sql.SQL("{} = excluded.{}").format(inline.name(c), inline.name(c))
                                             for c in columns)
            mutation += sql.SQL(" on conflict{} do update set {}").format(arbiter, assignments)
        else:
            mutation += sql.SQL(" on conflict{} do nothing").format(arbiter)
    return Statement(_returning(relation, mutation, returned, shape, strip_nulls, params), params)


def _affected(relation: Relation, query: Query, params: Params) -> sql.Composable:
    """The ``where`` of a PATCH or DELETE; with ``order``/``limit``/``offset`` only the rows of that page are
    affected (PostgREST docs: Tables and Views, "Limited Update/Delete"), picked by ``ctid``."""
    source = relation_source(relation)
    filters = where(source, query.conditions, params)
    if query.limit is None and not query.offset and not query.order:
        return filters
    target = inline.name(relation.schema, relation.name)
    return sql.SQL(" where ctid = any(array(select ctid from {}{}{}{}))").format(
        target, filters, order_by(source, query.order), page(query.limit, query.offset))


def update(relation: Relation, columns: tuple[str, ...], row_json: str, query: Query, shape: Shape,
           strip_nulls: bool, returned: ReadNode) -> Statement:
    """``update ... set (cols) = (select cols from json_populate_record(...)) where ...``."""
    params = Params()
    target = inline.name(relation.schema, relation.name)
    names = sql.SQL(", ").join(inline.name(c) for c in columns)
    filters = _affected(relation, query, params)
    mutation = sql.SQL("update {} set ({}) = (select {} from json_populate_record(null::{}, {}::json)){}").format(
        target, names, names, target, params.add(row_json), filters)
    return Statement(_returning(relation, mutation, returned, shape, strip_nulls, params), params)


def delete(relation: Relation, query: Query, shape: Shape, strip_nulls: bool, returned: ReadNode) -> Statement:
    params = Params()
    target = inline.name(relation.schema, relation.name)
    mutation = sql.SQL("delete from {}{}").format(target, _affected(relation, query, params))
    return Statement(_returning(relation, mutation, returned, shape, strip_nulls, params), params)


def _call(routine: Routine, args: dict[str, object], raw_body: str | None, params: Params) -> sql.Composable:
    """The FROM items that call ``routine``: its named arguments typed by ``json_to_record``, then the call.

    A function of one unnamed json/jsonb parameter gets the whole request body instead.
    """
    function = inline.name(routine.schema, routine.name)
    if routine.single_json_body:
        return sql.SQL("{}({}::{})").format(function, params.add(raw_body or "{}"), sql.SQL(routine.params[0].type))
    chosen = [p for p in routine.params if p.name in args]
    if not chosen:
        return sql.SQL("{}()").format(function)
    definition = sql.SQL(", ").join(sql.SQL("{} {}").format(inline.name(p.name), sql.SQL(p.type)) for p in chosen)
    arguments = sql.SQL(", ").join(
        sql.SQL("{}{} => {}.{}").format(sql.SQL("variadic " if p.variadic else ""), inline.name(p.name), ARGS,
                                        inline.name(p.name)) for p in chosen)
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
    node = ReadNode(source, sql.SQL("{} as {}").format(CALLED, RESULT), query.select, query,  # type: ignore[arg-type]
                    scalar=not routine.returns_composite)
    page_of = read(node, shape, strip_nulls, params, counted)
    once = sql.SQL("with {} as materialized (select {}.* from {}) ").format(CALLED, RESULT, called)
    return Statement(once + page_of.query, params)
