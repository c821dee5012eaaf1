"""PostgREST's error responses: the ``{code, message, details, hint}`` body and the status that goes with it.

Statuses for database errors follow PostgREST's SQLSTATE table (PostgREST docs: Errors, "HTTP Status Codes";
source: ``mapSQLtoHTTP`` in ``PostgREST/Error.hs``), so a client sees the same error whether it talks to hosted
Supabase or to this stack. One deliberate difference: class 54 (program limit exceeded: an index row, a JSON
nesting depth or a column list too large) is caused by what the request sent, so it is a 400 here rather than
PostgREST's 500; a request's own fault must never look like a server fault.
"""

from __future__ import annotations

import json

import psycopg
from starlette.responses import Response

JSON_UTF8 = "application/json; charset=utf-8"

# Exact SQLSTATEs first, then two-character classes; anything else is the client's fault (400).
_EXACT_STATUS = {
    "23503": 409, "23505": 409, "25006": 405, "53400": 500, "57P01": 503, "P0001": 400,
    "42883": 404, "42P01": 404, "42P17": 500,
}
_CLASS_STATUS = {
    "08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500, "38": 500, "39": 500,
    "3B": 500, "40": 500, "53": 503, "54": 400, "55": 500, "57": 500, "58": 500, "F0": 500, "HV": 500,
    "P0": 500, "XX": 500,
}


class RestError(Exception):
    """An error the gateway answers with, shaped as PostgREST shapes it."""

    def __init__(self, status: int, code: str, message: str, details: str | list[dict[str, str]] | None = None,
                 hint: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        """The JSON body PostgREST sends for this error."""
        return {"code": self.code, "details": self.details, "hint": self.hint, "message": self.message}

    def response(self, head: bool = False) -> Response:
        """The HTTP response; a HEAD request gets the status and headers without a body."""
        headers = {"Proxy-Status": f"PostgREST; error={self.code}", **self.headers}
        content = b"" if head else json.dumps(self.body()).encode()
        return Response(content, status_code=self.status, headers=headers, media_type=JSON_UTF8)


def status_for_sqlstate(sqlstate: str, message: str, authed: bool) -> int:
    """The HTTP status PostgREST gives a database error (``authed``: the request's role is not anon)."""
    if sqlstate == "42501":
        return 403 if authed else 401
    if sqlstate == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if sqlstate == "22023":
        return 401 if message.startswith("role") and message.endswith("does not exist") else 400
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    return _EXACT_STATUS.get(sqlstate) or _CLASS_STATUS.get(sqlstate[:2], 400)


def from_database(err: psycopg.Error, authed: bool) -> RestError:
    """Translate a database error, including ``raise ... using errcode, detail, hint``, into a RestError."""
    diag = err.diag
    sqlstate = err.sqlstate
    if sqlstate is None:
        if isinstance(err, psycopg.DataError):  # refused by psycopg before sending, e.g. a NUL in a value
            return nul_byte() if "NUL" in str(err) else RestError(400, "22000", str(err))
        return RestError(503, "PGRST000", "Database connection error. Retrying the connection.", str(err) or None)
    message = diag.message_primary or str(err)
    status = status_for_sqlstate(sqlstate, message, authed)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return RestError(status, sqlstate, message, diag.message_detail, diag.message_hint, headers)


def nul_byte() -> RestError:
    """22021: PostgreSQL refuses a NUL character in text; PostgREST passes that error on as a 400."""
    return RestError(400, "22021", 'invalid byte sequence for encoding "UTF8": 0x00')


def check_text(value: str) -> str:
    """``value`` unchanged, or the 400 PostgreSQL would give it when it holds a NUL character."""
    if "\x00" in value:
        raise nul_byte()
    return value


def parse_error(what: str, value: str, details: str) -> RestError:
    """PGRST100: a query-string parameter that does not parse."""
    return RestError(400, "PGRST100", f'"failed to parse {what} ({value})"', details)


def invalid_body(message: str) -> RestError:
    """PGRST102: a request body that is not the JSON the operation needs."""
    return RestError(400, "PGRST102", message)


def column_not_found(relation: str, column: str) -> RestError:
    """PGRST204: a column named in a body, ``columns`` or ``on_conflict`` that the relation lacks."""
    return RestError(400, "PGRST204", f"Could not find the '{column}' column of '{relation}' in the schema cache")


def undefined_column(relation: str, column: str) -> RestError:
    """42703: a column named in ``select``, a filter or ``order`` that the relation lacks (as PostgreSQL says)."""
    return RestError(400, "42703", f"column {relation}.{column} does not exist")


def table_not_found(schema: str, name: str) -> RestError:
    """PGRST205: no table or view of that name in the exposed schema."""
    return RestError(404, "PGRST205", f"Could not find the table '{schema}.{name}' in the schema cache")


def singular(rows: int) -> RestError:
    """PGRST116: ``application/vnd.pgrst.object+json`` asked for one row and the result had another count."""
    return RestError(406, "PGRST116", "Cannot coerce the result to a single JSON object",
                     f"The result contains {rows} rows")
