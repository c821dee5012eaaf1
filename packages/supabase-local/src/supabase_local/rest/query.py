"""PostgREST's query-string grammar parsed into a small AST: ``select`` (with embedded resources, spreads
and JSON paths), filters, ``or``/``and`` trees, ``order``, ``limit``, ``offset``, ``on_conflict``,
``columns``, and the same parameters scoped to an embedded resource (``cities.order=name.desc``).

PostgREST docs: API "Tables and Views" (Horizontal/Vertical Filtering, JSON Columns, Logical operators),
"Resource Embedding" (Embedded Filters, Spread embedded resource); source: ``QueryParams.hs``.
Nothing here touches SQL; names stay names until the SQL builder checks them against the schema cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from supabase_local.rest.errors import RestError, parse_error

RESERVED = frozenset({"select", "order", "limit", "offset", "on_conflict", "columns", "or", "and", "not.or",
                      "not.and"})
SIMPLE_OPERATORS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "cs",
                              "cd", "ov", "sl", "sr", "nxr", "nxl", "adj", "isdistinct"})
TEXT_SEARCH_OPERATORS = frozenset({"fts", "plfts", "phfts", "wfts"})
QUANTIFIABLE = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"})
IS_VALUES = {"null": "null", "not_null": "not null", "true": "true", "false": "false", "unknown": "unknown"}
_FILTER_RE = re.compile(r"(not\.)?([a-z_]+)(?:\(([A-Za-z0-9_]+)\))?\.(.*)", re.DOTALL)
_LOGIC_RE = re.compile(r"(not\.)?(and|or)\((.*)\)", re.DOTALL)
_CAST_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ALIAS_RE = re.compile(r'([^:"]+|"(?:[^"\\]|\\.)*"):(?!:)(.+)', re.DOTALL)
_CASTED_RE = re.compile(r'(.+)::([^:"]+)', re.DOTALL)
_PATH_STEP_RE = re.compile(r'(->>?)("(?:[^"\\]|\\.)*"|(?:[^-"]|-(?!>))+)', re.DOTALL)
_SCOPED = ("order", "limit", "offset", "or", "and")
JsonPath = tuple[tuple[str, str], ...]  # (arrow, key): ``data->a->>b`` is (("->", "a"), ("->>", "b"))


@dataclass(frozen=True)
class Filter:
    """``column=[not.]operator[(modifier)].value``; ``value`` is a tuple for ``in``."""

    column: str
    operator: str
    value: str | tuple[str, ...]
    negate: bool = False
    modifier: str | None = None
    path: JsonPath = ()


@dataclass(frozen=True)
class Logic:
    """An ``and(...)`` / ``or(...)`` tree of filters."""

    conjunction: str
    items: tuple[Filter | Logic, ...]
    negate: bool = False


Condition = Filter | Logic


@dataclass(frozen=True)
class SelectItem:
    """One entry of ``select``: a column (or ``*``) with an optional JSON path, alias and cast."""

    column: str
    alias: str | None = None
    cast: str | None = None
    path: JsonPath = ()

    @property
    def output(self) -> str:
        """The response key: the alias, else the last JSON key (PostgREST's default), else the column."""
        if self.alias:
            return self.alias
        keys = [key for _, key in self.path if not _is_index(key)]
        return keys[-1] if keys else self.column


@dataclass(frozen=True)
class Embed:
    """``[...][alias:]name[!hint][!inner](select)``: a related resource; an empty ``select`` only filters."""

    name: str
    select: tuple[SelectItem | Embed, ...]
    alias: str | None = None
    hint: str | None = None
    inner: bool = False
    spread: bool = False

    @property
    def label(self) -> str:
        return self.alias or self.name


Selected = SelectItem | Embed


@dataclass(frozen=True)
class OrderItem:
    column: str
    descending: bool = False
    nulls: str | None = None
    path: JsonPath = ()


@dataclass
class Query:
    """Everything a request's query string asks for; ``params`` are the keys left for filters or RPC arguments;
    ``embedded`` holds the filters, order and page of each embedded resource, by its path of labels."""

    select: tuple[Selected, ...] = (SelectItem("*"),)
    conditions: list[Condition] = field(default_factory=list)
    order: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int = 0
    on_conflict: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None
    params: list[tuple[str, str]] = field(default_factory=list)
    embedded: dict[tuple[str, ...], Query] = field(default_factory=dict)


def _is_index(key: str) -> bool:
    return key.removeprefix("-").isdecimal() and key.isascii()


def split_top_level(text: str, what: str, braces: bool = False) -> list[str]:
    """Split on commas outside parentheses and double quotes (``a,b(c,d),"e,f"`` → three parts); with
    ``braces``, outside ``{...}`` too (array literals in logic trees), unless a brace is left open."""
    parts: list[str] = []
    depth, curly, quoted, escaped, start = 0, 0, False, False, 0
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif braces and not quoted and char == "{":
            curly += 1
        elif braces and not quoted and char == "}" and curly:
            curly -= 1
        elif curly:
            continue
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                raise parse_error(what, text, f'unexpected ")" at position {index + 1}')
        elif not quoted and depth == 0 and char == ",":
            parts.append(text[start:index])
            start = index + 1
    if curly:
        return split_top_level(text, what)
    if quoted or depth:
        raise parse_error(what, text, "unbalanced quotes or parentheses")
    parts.append(text[start:])
    return parts


def unquote(text: str) -> str:
    """A name or value as sent: ``"a\\"b"`` becomes ``a"b``; unquoted text is kept as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _split_name(text: str, what: str) -> tuple[str, str]:
    """``field.rest`` or ``"quoted.name".rest`` → (field as written, rest); quotes are kept for parse_field."""
    if text.startswith('"'):
        match = re.match(r'"(?:[^"\\]|\\.)*"', text, re.DOTALL)
        if match is None:
            raise parse_error(what, text, "unterminated quoted name")
        name, rest = match.group(0), text[match.end():]
        arrow = rest.find(".")
        if rest.startswith("->") and arrow > 0:  # "quoted"->path.rest
            return name + rest[:arrow], rest[arrow:]
        return name, rest
    name, dot, rest = text.partition(".")
    return name, dot + rest


def parse_field(text: str, what: str) -> tuple[str, JsonPath]:
    """``col``, ``"odd col"``, ``data->a->>b`` or ``data->"k y"->0`` → (column, JSON path)."""
    if text.startswith('"'):
        match = re.match(r'"((?:[^"\\]|\\.)*)"', text, re.DOTALL)
        if match is None:
            raise parse_error(what, text, "unterminated quoted name")
        column, rest = unquote(match.group(0)), text[match.end():]
    else:
        arrow = text.find("->")
        column, rest = (text, "") if arrow < 0 else (text[:arrow], text[arrow:])
    path: list[tuple[str, str]] = []
    position = 0
    while position < len(rest):
        step = _PATH_STEP_RE.match(rest, position)
        if step is None:
            raise parse_error(what, text, "expecting a JSON path: column->key->>key")
        path.append((step.group(1), unquote(step.group(2))))
        position = step.end()
    if not column:
        raise parse_error(what, text, "expecting a column name")
    return column, tuple(path)


def parse_filter(column: str, spec: str, in_logic: bool = False) -> Filter:
    """``spec`` is the part after ``column=`` (or after ``column.`` inside a logic tree); ``column`` may carry
    a JSON path."""
    name, path = parse_field(column, "filter")
    match = _FILTER_RE.fullmatch(spec)
    if match is None:
        raise parse_error("filter", spec, 'expecting "not" or an operator (eq, gt, in, is, like, ...)')
    negate, operator, modifier, raw = bool(match.group(1)), match.group(2), match.group(3), match.group(4)
    if operator == "in":
        if modifier or not (raw.startswith("(") and raw.endswith(")")):
            raise parse_error("filter", spec, "in expects a parenthesised list: in.(a,b)")
        try:
            values = tuple(unquote(v) for v in split_top_level(raw[1:-1], "filter")) if raw[1:-1] else ()
        except RestError as err:  # name the whole filter, not just the list inside it
            raise parse_error("filter", spec, err.details or "") from err
        return Filter(name, "in", values, negate, path=path)
    if operator == "is":
        if modifier or raw.lower() not in IS_VALUES:
            raise parse_error("filter", spec, "is expects null, not_null, true, false or unknown")
        return Filter(name, "is", raw.lower(), negate, path=path)
    value = unquote(raw) if in_logic else raw
    if operator in TEXT_SEARCH_OPERATORS:
        if modifier is not None and _CAST_RE.fullmatch(modifier) is None:
            raise parse_error("filter", spec, "a text search language is a plain name")
        return Filter(name, operator, value, negate, modifier, path)
    if operator not in SIMPLE_OPERATORS:
        raise parse_error("filter", spec, f'unknown operator "{operator}"')
    if modifier is not None and (modifier not in ("any", "all") or operator not in QUANTIFIABLE):
        raise parse_error("filter", spec, f'unexpected modifier "{modifier}" (expecting any or all)')
    if operator in ("like", "ilike"):
        value = value.replace("*", "%")
    return Filter(name, operator, value, negate, modifier, path)


def parse_logic(key: str, value: str) -> Logic:
    """``or=(a.eq.1,and(b.gt.2,c.is.null))`` and friends; values may be quoted, in-lists or ``{...}`` arrays."""
    negate = key.startswith("not.")
    conjunction = key.removeprefix("not.")
    if not (value.startswith("(") and value.endswith(")")):
        raise parse_error("logic tree", value, 'expecting "(" ... ")"')
    items: list[Condition] = []
    for part in split_top_level(value[1:-1], "logic tree", braces=True):
        nested = _LOGIC_RE.fullmatch(part)
        if nested is not None:
            items.append(parse_logic(f"{nested.group(1) or ''}{nested.group(2)}", f"({nested.group(3)})"))
            continue
        column, rest = _split_name(part, "logic tree")
        if not column or not rest.startswith("."):
            raise parse_error("logic tree", part, "expecting column.operator.value")
        items.append(parse_filter(column, rest[1:], in_logic=True))
    return Logic(conjunction, tuple(items), negate)


def _parse_embed(part: str, text: str) -> Embed:
    """``...name(sub)`` or ``alias:name!hint!inner(sub)``."""
    spread = part.startswith("...")
    head, _, rest = part.removeprefix("...").partition("(")
    if not rest.endswith(")"):
        raise parse_error("select", text, f'expecting ")" to close "{head}("')
    alias = None
    aliased = _ALIAS_RE.fullmatch(head)
    if aliased is not None:
        alias, head = unquote(aliased.group(1)), aliased.group(2)
    name, *marks = head.split("!")
    inner, hint = False, None
    for mark in marks:
        if mark == "inner":
            inner = True
        elif mark != "left":
            if hint is not None or not mark:
                raise parse_error("select", text, f'unexpected "!{mark}" in "{head}"')
            hint = mark
    if not name:
        raise parse_error("select", text, "expecting the name of a related table before (")
    inside = rest[:-1]
    select = parse_select(inside) if inside.strip() else ()
    return Embed(unquote(name), select, alias, hint, inner, spread)


def parse_select(text: str) -> tuple[Selected, ...]:
    """``*``, ``col``, ``alias:col``, ``col::type``, ``data->a->>b`` and embedded resources."""
    items: list[Selected] = []
    for part in split_top_level(text, "select"):
        part = part.strip()
        if not part:
            continue
        if "(" in part and not part.startswith('"'):
            items.append(_parse_embed(part, text))
            continue
        alias = None
        aliased = _ALIAS_RE.fullmatch(part)
        if aliased is not None:
            alias, part = unquote(aliased.group(1)), aliased.group(2)
        cast = None
        casted = _CASTED_RE.fullmatch(part)
        if casted is not None:
            part, cast = casted.group(1), casted.group(2)
            if _CAST_RE.fullmatch(cast) is None:
                raise parse_error("select", text, f'invalid cast "{cast}"')
        column, path = (part, ()) if part == "*" else parse_field(part, "select")
        items.append(SelectItem(column, alias, cast, path))
    return tuple(items) or (SelectItem("*"),)


def parse_order(text: str) -> tuple[OrderItem, ...]:
    """``col.desc.nullslast,data->n.desc`` → order items."""
    items = []
    for part in split_top_level(text, "order"):
        field_text, rest = _split_name(part.strip(), "order")
        modifiers = [m for m in rest.split(".") if m]
        descending, nulls = False, None
        for modifier in modifiers:
            if modifier in ("asc", "desc"):
                descending = modifier == "desc"
            elif modifier in ("nullsfirst", "nullslast"):
                nulls = modifier.removeprefix("nulls")
            else:
                raise parse_error("order", part, f'unexpected "{modifier}" expecting asc, desc, nullsfirst or '
                                  "nullslast")
        if not field_text:
            raise parse_error("order", part, "expecting a column name")
        column, path = parse_field(field_text, "order")
        items.append(OrderItem(column, descending, nulls, path))
    return tuple(items)


def parse_names(text: str, what: str) -> tuple[str, ...]:
    """A comma list of (possibly quoted) column names, as in ``columns`` and ``on_conflict``."""
    names = tuple(unquote(part.strip()) for part in split_top_level(text, what))
    if not all(names):
        raise parse_error(what, text, "expecting column names separated by commas")
    return names


def parse_count(what: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise parse_error(f"{what} parameter", text, "expecting a non-negative integer")
    return int(text)


def _split_key(key: str) -> list[str]:
    """``cities.name`` → ["cities", "name"]; dots inside double quotes do not split."""
    parts, quoted, start = [], False, 0
    for index, char in enumerate(key):
        if char == '"':
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(key[start:index])
            start = index + 1
    parts.append(key[start:])
    return parts


def _apply(query: Query, key: str, value: str) -> None:
    """Read one reserved parameter into ``query``."""
    if key == "select":
        query.select = parse_select(value)
    elif key == "order":
        query.order = parse_order(value)
    elif key == "limit":
        query.limit = parse_count("limit", value)
    elif key == "offset":
        query.offset = parse_count("offset", value)
    elif key == "on_conflict":
        query.on_conflict = parse_names(value, "on_conflict")
    elif key == "columns":
        query.columns = parse_names(value, "columns")
    else:
        query.conditions.append(parse_logic(key, value))


def _scoped(query: Query, key: str, value: str) -> bool:
    """``cities.name=eq.x``, ``cities.order=...``, ``cities.not.or=(...)``: into ``query.embedded``."""
    parts = _split_key(key)
    if len(parts) < 2 or not all(parts):
        return False
    if parts[-2:] in (["not", "or"], ["not", "and"]):
        parts = [*parts[:-2], f"not.{parts[-1]}"]
    if len(parts) < 2:
        return False
    path, last = tuple(unquote(p) for p in parts[:-1]), parts[-1]
    scope = query.embedded.setdefault(path, Query(select=()))
    if last in _SCOPED or last in ("not.or", "not.and"):
        _apply(scope, last, value)
    else:
        scope.conditions.append(parse_filter(last, value))
    return True


def parse_query(pairs: list[tuple[str, str]]) -> Query:
    """Read the reserved parameters and the embedded resources' ones; the rest are left in ``params``
    (filters, or RPC arguments)."""
    query = Query()
    for key, value in pairs:
        if key in RESERVED:
            _apply(query, key, value)
        elif not _scoped(query, key, value):
            query.params.append((key, value))
    return query


def parse_filters(params: list[tuple[str, str]]) -> list[Condition]:
    """Column filters from ``column=op.value`` parameters."""
    return [parse_filter(key, value) for key, value in params]
