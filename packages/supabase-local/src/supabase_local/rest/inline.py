"""Names and text written into a REST statement, in a form client-side binding cannot misread.

The gateway binds a request's values on the client: psycopg (or the plan cache's ``Message``) replaces every
``%(name)s`` of the statement's text with a quoted value. A name or a JSON key that a request writes into the
statement (an alias, a cast, an embedding's label, ``data->>key``) could itself hold ``%(p0)s``; bound as
text, that would put a request's value *inside* a quoted name or string and end its quoting early. So a ``%``
in such text is written as the Unicode escape ``\\0025`` (``U&"…"`` for a name, ``U&'…'`` for a string):
PostgreSQL reads the same name or string, and the statement's text holds no ``%`` but its placeholders.
"""

from __future__ import annotations

from psycopg import sql

PERCENT = "%"


def _escaped(text: str, quote: str) -> sql.Composable:
    body = text.replace("\\", "\\\\").replace(quote, quote * 2).replace(PERCENT, "\\0025")
    return sql.SQL("U&" + quote + body + quote)


def name(*parts: str) -> sql.Composable:
    """``sql.Identifier(*parts)``, with any ``%`` escaped."""
    if not any(PERCENT in part for part in parts):
        return sql.Identifier(*parts)
    return sql.SQL(".").join(_escaped(part, '"') for part in parts)


def text(value: str) -> sql.Composable:
    """``sql.Literal(value)`` for a string, with any ``%`` escaped."""
    if PERCENT not in value:
        return sql.Literal(value)
    return _escaped(value, "'")
