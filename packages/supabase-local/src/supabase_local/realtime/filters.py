"""Server-side ``postgres_changes`` filters: ``column=op.value`` as Supabase Realtime accepts them.

Operators: ``eq neq lt lte gt gte in is like ilike``; several conditions joined by commas must all hold.
Values are compared by the column's type: numbers as numbers, booleans as booleans, everything else as
the text PostgreSQL gives it in JSON (timestamps in ISO form compare correctly as text within one zone).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

NUMERIC_TYPES = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric", "oid"})
ORDER_OPS = {"lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b,
             "gte": lambda a, b: a >= b}
OPERATORS = frozenset({"eq", "neq", "in", "is", "like", "ilike", *ORDER_OPS})
IS_VALUES = {"null": None, "true": True, "false": False}


class FilterError(ValueError):
    """A filter the server cannot apply; the message goes back in the join error."""


@dataclass(frozen=True)
class Condition:
    """One ``column=op.value`` test, with the value already converted to the column's type."""

    column: str
    op: str
    value: Any
    column_type: str

    def matches(self, record: dict[str, Any]) -> bool:
        """True when ``record`` (a row as JSON) satisfies the condition; NULL satisfies only ``is.null``."""
        raw = record.get(self.column)
        if self.op == "is":
            return raw is self.value if self.value is None else _coerce_bool(raw) is self.value
        if raw is None:
            return False
        actual = _coerce(raw, self.column_type)
        if actual is None:
            return False
        if self.op == "eq":
            return actual == self.value
        if self.op == "neq":
            return actual != self.value
        if self.op == "in":
            return actual in self.value
        if self.op in ("like", "ilike"):
            return bool(self.value.fullmatch(str(actual)))
        try:
            return bool(ORDER_OPS[self.op](actual, self.value))
        except TypeError:
            return False


def _coerce_bool(raw: object) -> bool | None:
    if isinstance(raw, bool):
        return raw
    return None


def _coerce(raw: object, column_type: str) -> Any:
    """A JSON value of a column as a comparable Python value (None when it cannot be compared)."""
    if column_type in NUMERIC_TYPES:
        try:
            return Decimal(str(raw))
        except InvalidOperation:
            return None
    if column_type == "bool":
        return _coerce_bool(raw)
    if isinstance(raw, str):
        return raw
    return json.dumps(raw, separators=(",", ":"))


def _convert(text: str, column: str, column_type: str) -> Any:
    """A filter value as the column's type; raises FilterError when it cannot be one."""
    if column_type in NUMERIC_TYPES:
        try:
            return Decimal(text)
        except InvalidOperation as error:
            raise FilterError(f"invalid value {text!r} for column {column!r} of type {column_type}") from error
    if column_type == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise FilterError(f"invalid value {text!r} for boolean column {column!r}")
        return lowered == "true"
    return text


def _split_list(text: str) -> list[str]:
    """The items of ``(a,b,"c,d")``: commas separate, double quotes keep commas inside an item."""
    if not (text.startswith("(") and text.endswith(")")):
        raise FilterError(f"the in operator needs a list in parentheses, got {text!r}")
    items, current, quoted = [], [], False
    for char in text[1:-1]:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item != ""]


def _split_conditions(text: str) -> list[str]:
    """Top-level comma-separated conditions (commas inside ``in.(…)`` lists do not split)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _like_pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    pieces = (".*" if ch in "%*" else "." if ch == "_" else re.escape(ch) for ch in text)
    return re.compile("".join(pieces), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _parse_one(text: str, columns: dict[str, str]) -> Condition:
    match = re.fullmatch(r"([^=]+)=([a-z_]+)\.(.*)", text, flags=re.DOTALL)
    if match is None:
        raise FilterError(f"invalid filter {text!r}: expected column=operator.value, e.g. status=eq.pending")
    column, op, value = match.group(1).strip(), match.group(2), match.group(3)
    if op not in OPERATORS:
        raise FilterError(f"invalid filter {text!r}: unknown operator {op!r} "
                          f"(supported: {', '.join(sorted(OPERATORS))})")
    if column not in columns:
        raise FilterError(f"invalid filter {text!r}: column {column!r} does not exist")
    column_type = columns[column]
    if op == "in":
        converted: Any = frozenset(_convert(item, column, column_type) for item in _split_list(value))
    elif op == "is":
        if value.lower() not in IS_VALUES:
            raise FilterError(f"invalid filter {text!r}: is accepts null, true or false")
        converted = IS_VALUES[value.lower()]
    elif op in ("like", "ilike"):
        converted = _like_pattern(value, ignore_case=op == "ilike")
    else:
        converted = _convert(value, column, column_type)
    return Condition(column, op, converted, column_type)


def parse_filter(text: str | None, columns: dict[str, str]) -> tuple[Condition, ...]:
    """The conditions of a binding's filter against a table's ``{column: type}``; empty when no filter."""
    if text is None or text == "":
        return ()
    if not isinstance(text, str):
        raise FilterError("filter must be a string")
    return tuple(_parse_one(part.strip(), columns) for part in _split_conditions(text))


def matches_all(conditions: tuple[Condition, ...], record: dict[str, Any] | None) -> bool:
    """True when every condition holds for ``record`` (no conditions: always)."""
    if not conditions:
        return True
    return record is not None and all(condition.matches(record) for condition in conditions)
