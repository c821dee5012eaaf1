"""Validating a join's ``postgres_changes`` bindings: the table must exist and be published, the filter
and column selection must make sense for it; anything else gets a reason the client shows."""

from __future__ import annotations

from typing import Any

from supabase_local.realtime.catalog import PUBLICATION, Catalog, TableInfo
from supabase_local.realtime.filters import FilterError, parse_filter
from supabase_local.realtime.registry import EVENTS, WILDCARD, Binding, next_binding_id


class BindingError(ValueError):
    """A binding the server refuses; the message is the join error's reason."""


def _text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise BindingError(f"postgres_changes {key} must be a string, got {value!r}")
    return value


async def parse_binding(raw: object, catalog: Catalog) -> Binding:
    """A checked Binding for one entry of ``config.postgres_changes``; raises BindingError."""
    if not isinstance(raw, dict):
        raise BindingError(f"each postgres_changes binding must be an object, got {raw!r}")
    event = _text(raw, "event")
    if event is None or event.upper() not in EVENTS:
        raise BindingError(f"postgres_changes event must be one of {', '.join(EVENTS)}, got {event!r}")
    schema = _text(raw, "schema") or "public"
    table = _text(raw, "table")
    text_filter = _text(raw, "filter")
    select = raw.get("select")
    if select is not None and not (isinstance(select, list) and all(isinstance(col, str) for col in select)):
        raise BindingError(f"postgres_changes select must be a list of column names, got {select!r}")
    if table in (None, WILDCARD) or schema == WILDCARD:
        if text_filter or select:
            raise BindingError("filter and select need one table: name the schema and the table")
        return Binding(next_binding_id(), event.upper(), schema, table)
    # The cache may predate the DDL that made this binding valid (its notification can still be on its way):
    # a refusal from cached metadata is checked once more against the catalog before it is final.
    try:
        return _checked(await catalog.table(schema, table), schema, table, event, text_filter, select)
    except BindingError:
        return _checked(await catalog.table(schema, table, fresh=True), schema, table, event, text_filter, select)


def _checked(info: TableInfo | None, schema: str, table: str, event: str, text_filter: str | None,
             select: list[str] | None) -> Binding:
    """The Binding for ``info`` (the table as the catalog describes it); raises BindingError."""
    where = f"{schema}.{table}"
    if info is None:
        raise BindingError(f"Unable to subscribe to changes with given parameters: table {where} does not exist")
    if not info.published:
        raise BindingError(f"Unable to subscribe to changes with given parameters: table {where} is not in the "
                           f"{PUBLICATION} publication (alter publication {PUBLICATION} add table {where})")
    try:
        conditions = parse_filter(text_filter, info.column_types)
    except FilterError as error:
        raise BindingError(str(error)) from error
    unknown = [col for col in select or [] if col not in info.column_types]
    if unknown:
        raise BindingError(f"select names columns that {where} does not have: {', '.join(unknown)}")
    return Binding(next_binding_id(), event.upper(), schema, table, conditions, tuple(select) if select else None)
