"""What PostgREST sets at the start of every request's transaction, as statements prepared once per pooled
connection: a request then sends only ``execute rest_settings(...)`` with its values, so PostgreSQL neither
parses nor plans the settings again.

The role's own settings (such as its statement_timeout) come first, while the gateway's role may still set
them, then the request's.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from supabase_local.rest.auth import Identity
from supabase_local.rest.front import RestRequest

# The request's values, in the order of the prepared statements' text parameters.
NAMES = ("read_only", "role", "claims", "sub", "method", "path", "headers", "cookies")
_REQUEST = """
       set_config('transaction_read_only', ${0}, true),
       set_config('role', ${1}, true),
       set_config('request.jwt.claims', ${2}, true),
       set_config('request.jwt.claim.role', ${1}, true),
       set_config('request.jwt.claim.sub', ${3}, true),
       set_config('request.method', ${4}, true),
       set_config('request.path', ${5}, true),
       set_config('request.headers', ${6}, true),
       set_config('request.cookies', ${7}, true)"""
_ROLE = """
       (select count(set_config(s.name, s.value, true)) from unnest($1::text[], $2::text[]) as s(name, value)),"""


def _numbered(first: int) -> str:
    return _REQUEST.format(*range(first, first + len(NAMES)))


PREPARE = (
    f"prepare rest_settings({', '.join(['text'] * len(NAMES))}) as select {_numbered(1)}",
    f"prepare rest_role_settings(text[], text[], {', '.join(['text'] * len(NAMES))}) as select {_ROLE}"
    f"{_numbered(3)}",
)
_VALUES = sql.SQL(", ").join(sql.Placeholder(name) for name in NAMES)
EXECUTE = sql.SQL("execute rest_settings({})").format(_VALUES)
EXECUTE_WITH_ROLE = sql.SQL("execute rest_role_settings({}, {}, {})").format(
    sql.Placeholder("role_setting_names"), sql.Placeholder("role_setting_values"), _VALUES)


async def prepare(conn: psycopg.AsyncConnection) -> None:
    """Prepare the settings statements on a new pooled connection (the pool's ``configure`` hook)."""
    for statement in PREPARE:
        await conn.execute(statement)


def lost(err: psycopg.Error) -> bool:
    """True when ``err`` says the session no longer holds a settings statement (a ``DEALLOCATE ALL`` ran)."""
    message = err.diag.message_primary or ""
    return isinstance(err, psycopg.errors.InvalidSqlStatementName) and "rest_" in message and "settings" in message


def statement(role_settings: dict[str, str] | None) -> sql.Composed:
    """The ``execute`` of the settings statement for a role with (or without) settings of its own."""
    return EXECUTE_WITH_ROLE if role_settings else EXECUTE


def values(request: RestRequest, identity: Identity, read_only: bool,
           role_settings: dict[str, str] | None) -> dict[str, object]:
    """The values of the settings statement for one request."""
    sub = identity.claims.get("sub")
    found: dict[str, object] = {
        "read_only": "on" if read_only else "off",
        "role": identity.role,
        "claims": identity.claims_json,
        "sub": sub if isinstance(sub, str) else "",
        "method": request.method,
        "path": request.path,
        "headers": request.headers_json(),
        "cookies": request.cookies_json(),
    }
    if role_settings:
        found["role_setting_names"] = list(role_settings)
        found["role_setting_values"] = list(role_settings.values())
    return found
