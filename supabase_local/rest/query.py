"""PostgREST's query-string grammar parsed into a small AST: ``select``, filters, ``or``/``and`` trees,
``order``, ``limit``, ``offset``, ``on_conflict`` and ``columns``.

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


@dataclass(frozen=True)
class Filter:
    """``column=[not.]operator[(modifier)].value``; ``value`` is a tuple for ``in``."""

    column: str
    operator: str
    value: str | tuple[str, ...]
    negate: bool = False
    modifier: str | None = None


@dataclass(frozen=True)
class Logic:
    """An ``and(...)`` / ``or(...)`` tree of filters."""

    conjunction: str
    items: tuple[Filter | Logic, ...]
    negate: bool = False


Condition = Filter | Logic


@dataclass(frozen=True)
class SelectItem:
    """One entry of ``select``: a column (or ``*``) with an optional alias and cast."""

    column: str
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True)
class OrderItem:
    column: str
    descending: bool = False
    nulls: str | None = None


@dataclass
class Query:
    """Everything a request's query string asks for; ``params`` are the keys left for filters or RPC arguments."""

    select: tuple[SelectItem, ...] = (SelectItem("*"),)
    conditions: list[Condition] = field(default_factory=list)
    order: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int = 0
    on_conflict: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None
    params: list[tuple[str, str]] = field(default_factory=list)


def split_top_level(text: str, what: str) -> list[str]:
    """Split on commas outside parentheses and double quotes (``a,b(c,d),"e,f"`` → three parts)."""
    parts: list[str] = []
    depth, quoted, escaped, start = 0, False, False, 0
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                raise parse_error(what, text, f'unexpected ")" at position {index + 1}')
        elif not quoted and depth == 0 and char == ",":
            parts.append(text[start:index])
            start = index + 1
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
    """``name.rest`` or ``"quoted.name".rest`` → (name, rest)."""
    if text.startswith('"'):
        match = re.match(r'"((?:[^"\\]|\\.)*)"(.*)', text, re.DOTALL)
        if match is None:
            raise parse_error(what, text, "unterminated quoted name")
        return unquote(f'"{match.group(1)}"'), match.group(2)
    name, dot, rest = text.partition(".")
    return name, dot + rest


def parse_filter(column: str, spec: str, in_logic: bool = False) -> Filter:
    """``spec`` is the part after ``column=`` (or after ``column.`` inside a logic tree)."""
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
        return Filter(column, "in", values, negate)
    if operator == "is":
        if modifier or raw.lower() not in IS_VALUES:
            raise parse_error("filter", spec, "is expects null, not_null, true, false or unknown")
        return Filter(column, "is", raw.lower(), negate)
    value = unquote(raw) if in_logic else raw
    if operator in TEXT_SEARCH_OPERATORS:
        if modifier is not None and _CAST_RE.fullmatch(modifier) is None:
            raise parse_error("filter", spec, "a text search language is a plain name")
        return Filter(column, operator, value, negate, modifier)
    if operator not in SIMPLE_OPERATORS:
        raise parse_error("filter", spec, f'unknown operator "{operator}"')
    if modifier is not None and (modifier not in ("any", "all") or operator not in QUANTIFIABLE):
        raise parse_error("filter", spec, f'unexpected modifier "{modifier}" (expecting any or all)')
    if operator in ("like", "ilike"):
        value = value.replace("*", "%")
    return Filter(column, operator, value, negate, modifier)


def parse_logic(key: str, value: str) -> Logic:
    """``or=(a.eq.1,and(b.gt.2,c.is.null))`` and friends."""
    negate = key.startswith("not.")
    conjunction = key.removeprefix("not.")
    if not (value.startswith("(") and value.endswith(")")):
        raise parse_error("logic tree", value, 'expecting "(" ... ")"')
    items: list[Condition] = []
    for part in split_top_level(value[1:-1], "logic tree"):
        nested = _LOGIC_RE.fullmatch(part)
        if nested is not None:
            items.append(parse_logic(f"{nested.group(1) or ''}{nested.group(2)}", f"({nested.group(3)})"))
            continue
        column, rest = _split_name(part, "logic tree")
        if not column or not rest.startswith("."):
            raise parse_error("logic tree", part, "expecting column.operator.value")
        items.append(parse_filter(column, rest[1:], in_logic=True))
    return Logic(conjunction, tuple(items), negate)


def parse_select(text: str) -> tuple[SelectItem, ...]:
    """``*``, ``col``, ``alias:col``, ``col::type``; embedded resources are not served here."""
    items = []
    for part in split_top_level(text, "select"):
        part = part.strip()
        if not part:
            continue
        if "(" in part and not part.startswith('"'):
            name = part.split("(", 1)[0].split(":")[-1].split("!")[0].removeprefix("...")
            raise RestError(400, "PGRST200", f"Could not find a relationship between the table and '{name}' "
                            "in the schema cache", "Embedding related resources is not supported by this stack.")
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
        items.append(SelectItem(unquote(part), alias, cast))
    return tuple(items) or (SelectItem("*"),)


def parse_order(text: str) -> tuple[OrderItem, ...]:
    """``col.desc.nullslast,col2`` → order items."""
    items = []
    for part in split_top_level(text, "order"):
        column, rest = _split_name(part.strip(), "order")
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
        if not column:
            raise parse_error("order", part, "expecting a column name")
        items.append(OrderItem(column, descending, nulls))
    return tuple(items)


def parse_names(text: str, what: str) -> tuple[str, ...]:
    """A comma list of (possibly quoted) column names, as in ``columns`` and ``on_conflict``."""
    names = tuple(unquote(part.strip()) for part in split_top_level(text, what))
    if not all(names):
        raise parse_error(what, text, "expecting column names separated by commas")
    return names


def parse_count(what: str, text: str) -> int:
    if not text.isdigit():
        raise parse_error(f"{what} parameter", text, "expecting a non-negative integer")
    return int(text)


def parse_query(pairs: list[tuple[str, str]]) -> Query:
    """Read the reserved parameters; the rest are left in ``params`` (filters, or RPC arguments)."""
    query = Query()
    for key, value in pairs:
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
        elif key in RESERVED:
            query.conditions.append(parse_logic(key, value))
        else:
            query.params.append((key, value))
    return query


def parse_filters(params: list[tuple[str, str]]) -> list[Condition]:
    """Column filters from ``column=op.value`` parameters."""
    conditions: list[Condition] = []
    for key, value in params:
        name = unquote(key)
        if name == key and "." in key:
            resource = key.split(".", 1)[0]
            raise RestError(400, "PGRST108", f"'{resource}' is not an embedded resource in this request",
                            hint=f"Verify that '{resource}' is included in the 'select' query parameter.")
        conditions.append(parse_filter(name, value))
    return conditions
