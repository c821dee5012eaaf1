"""Choosing which overload of a function a call means, by the names of the arguments sent (as PostgREST)."""

from __future__ import annotations

import difflib

from supabase_local.rest.errors import RestError
from supabase_local.rest.schema_cache import Routine, SchemaCache


def _signature(routine: Routine) -> str:
    params = ", ".join(f"{p.name} => {p.type}" for p in routine.params)
    return f"{routine.schema}.{routine.name}({params})"


def not_found(cache: SchemaCache, schema: str, name: str, keys: list[str], json_body: bool) -> RestError:
    """PGRST202 with PostgREST's wording and a close-name hint."""
    shown = sorted(keys)
    func = f"{schema}.{name}"
    listed = f"({', '.join(shown)})" if shown else " without parameters"
    searched = f" with parameter{'s' if len(shown) > 1 else ''} {', '.join(shown)}" if shown else \
        " without parameters"
    if json_body:
        searched += " or with a single unnamed json/jsonb parameter"
    hint = None
    overloads = cache.routines.get((schema, name))
    if overloads:
        hint = f"Perhaps you meant to call the function {func}({', '.join(sorted(overloads[0].names))})"
    else:
        names = [routine_name for routine_schema, routine_name in cache.routines if routine_schema == schema]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
        if close:
            hint = f"Perhaps you meant to call the function {schema}.{close[0]}"
    return RestError(404, "PGRST202", f"Could not find the function {func}{listed} in the schema cache",
                     f"Searched for the function {func}{searched}, but no matches were found in the schema cache.",
                     hint)


def resolve(cache: SchemaCache, schema: str, name: str, keys: list[str], exact: bool) -> Routine:
    """The one overload that takes ``keys`` (all of them when ``exact``: a POST body names only arguments;
    a GET may add filters). A body for a single unnamed json/jsonb parameter also matches on POST."""
    sent = frozenset(keys)
    overloads = cache.routines.get((schema, name), [])
    matches = [r for r in overloads if r.required <= sent and (not exact or sent <= r.names)
               and not r.single_json_body]
    if not matches and exact:
        matches = [r for r in overloads if r.single_json_body]
    if not matches:
        raise not_found(cache, schema, name, keys, exact)
    if len(matches) > 1:
        best = max(len(sent & r.names) for r in matches)
        matches = [r for r in matches if len(sent & r.names) == best]
    if len(matches) > 1:
        raise RestError(300, "PGRST203", "Could not choose the best candidate function between: "
                        + ", ".join(_signature(r) for r in matches), None,
                        "Try renaming the parameters or the function itself in the database so function "
                        "overloading can be resolved")
    return matches[0]


def table_hint(cache: SchemaCache, schema: str, name: str) -> str | None:
    """PostgREST's "Perhaps you meant the table ..." for a close relation name."""
    names = [rel for rel_schema, rel in cache.relations if rel_schema == schema]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return f"Perhaps you meant the table '{schema}.{close[0]}'" if close else None
