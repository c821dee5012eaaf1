"""How one request's statements reach the database: the request settings and the statement in one
simple-query message, rendered on the client, and the result read back as PostgREST's body, row count and total.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

from supabase_local.rest import negotiation, planner, request_settings
from supabase_local.rest.errors import RestError, singular

BEGIN = sql.SQL("begin")
# count=estimated: the exact count up to this many rows, the planner's estimate beyond (PostgREST docs:
# Pagination and Count, "Estimated Count"; the threshold is db-max-rows, 1000 on hosted Supabase).
ESTIMATE_THRESHOLD = 1000


@dataclass(frozen=True)
class Outcome:
    """What the statement produced: the JSON text, the rows it holds, and the total when one was counted."""

    body: str | None
    rows: int
    total: int | None


_PLACEHOLDER = re.compile(rb"%\(([A-Za-z0-9_]+)\)s")
LITERALS_SIZE = 1024
LITERAL_MAX_CHARS = 2048


class Message:
    """A flight's SQL (``begin`` when it needs an explicit transaction, the settings, the statement) split around
    its named placeholders, so a request fills in its quoted values without psycopg parsing the SQL again.

    ``plain`` is false when the SQL holds a ``%`` that is not one of the placeholders (a name with a percent
    sign); such a message goes to psycopg's client-side binding as it is, which reads it as it always did.
    """

    __slots__ = ("names", "parts", "plain", "query")

    def __init__(self, query: bytes) -> None:
        self.query = query
        pieces = _PLACEHOLDER.split(query)
        self.parts: list[bytes] = pieces[0::2]
        self.names: list[str] = [name.decode() for name in pieces[1::2]]
        self.plain = all(b"%" not in part for part in self.parts)

    @classmethod
    def compose(cls, settings: sql.Composable, plan: planner.Plan) -> Message:
        """The message for a plan, rendered without a connection: identifiers are quoted in Python instead of
        one libpq call each, the same bytes at a fraction of the cost (the server's quoting rules are the
        standard ones)."""
        parts = [BEGIN, settings, plan.statement.query] if explicit(plan) else [settings, plan.statement.query]
        return cls(sql.SQL(";").join(parts).as_bytes(None))

    def render(self, params: dict[str, object], literals: Literals, conn: psycopg.AsyncConnection) -> bytes:
        """The SQL with every placeholder replaced by its value as a literal."""
        out = [self.parts[0]]
        quote = literals.quote
        for name, part in zip(self.names, self.parts[1:], strict=True):
            out.append(quote(params[name], conn))
            out.append(part)
        return b"".join(out)


class Literals:
    """Values quoted as psycopg's client-side binding quotes them (``sql.Literal``), the short text values kept
    by value: a client sends the same role, claims, headers and filter values again and again.

    The pool's connections share their server, role and client encoding, so a value quotes the same on each.
    """

    def __init__(self, size: int = LITERALS_SIZE) -> None:
        self.size = size
        self._quoted: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._quoted)

    def quote(self, value: object, conn: psycopg.AsyncConnection) -> bytes:
        """``value`` as an SQL literal (``NULL`` for None); psycopg.DataError for text holding a NUL."""
        if value is None:
            return b"NULL"
        if type(value) is not str or len(value) > LITERAL_MAX_CHARS:
            return sql.Literal(value).as_bytes(conn)
        quoted = self._quoted.get(value)
        if quoted is None:
            quoted = sql.Literal(value).as_bytes(conn)
            if len(self._quoted) >= self.size:
                self._quoted.clear()
            self._quoted[value] = quoted
        return quoted


class Flight:
    """One request's statements, sent in as few round trips as its guarantees allow.

    The request settings and the statement travel as one simple-query message with the values quoted on the
    client. A read-only plan runs in the implicit transaction of that one message: one round trip. A plan that
    writes, or that needs a second statement (the planned count), opens an explicit transaction in the same
    message and commits in a second one, so a connection lost before COMMIT was sent committed nothing.
    """

    def __init__(self, message: Message, params: dict[str, object], plan: planner.Plan,
                 literals: Literals) -> None:
        self.plan = plan
        self.params = params
        self.message = message
        self.literals = literals
        self.explicit = explicit(plan)
        self.committing = False

    async def _send(self, cursor: psycopg.AsyncClientCursor, conn: psycopg.AsyncConnection) -> None:
        if self.message.plain:
            await cursor.execute(self.message.render(self.params, self.literals, conn))
        else:
            await cursor.execute(self.message.query, self.params)

    async def run(self, conn: psycopg.AsyncConnection, prefs: negotiation.Preferences) -> Outcome:
        """The plan's outcome; a RestError raised here rolls the explicit transaction back."""
        try:
            cursor = psycopg.AsyncClientCursor(conn)
            try:
                await self._send(cursor, conn)
            except psycopg.Error as err:
                if not request_settings.lost(err):
                    raise
                # Nothing ran yet (the settings come before the statement): prepare them again and go on.
                if self.explicit:
                    await conn.rollback()
                await request_settings.prepare(conn)
                await self._send(cursor, conn)
            for _ in range(2 if self.explicit else 1):  # past BEGIN and the settings row
                cursor.nextset()
            outcome = await _outcome(conn, cursor, self.plan, prefs)
            if self.explicit:
                self.committing = True
                await conn.execute(b"commit")
            return outcome
        except BaseException:
            if self.explicit and not self.committing and not conn.broken:
                await conn.rollback()
            raise


def explicit(plan: planner.Plan) -> bool:
    """Whether a plan runs in an explicit transaction: it writes, or it reads twice (the planned count)."""
    return not plan.read_only or plan.explain is not None


async def _outcome(conn: psycopg.AsyncConnection, cursor: psycopg.AsyncClientCursor, plan: planner.Plan,
                   prefs: negotiation.Preferences) -> Outcome:
    """Read the statement's result and check it against what the request demanded."""
    row = await cursor.fetchone() if cursor.description is not None else None
    if row is not None:
        body, rows = row[0], int(row[1])
    else:
        body, rows = None, max(cursor.rowcount, 0)
    total = None
    if plan.counted:
        total = int(row[2]) if row is not None else 0
    elif prefs.count:
        total = rows
    if plan.explain is not None:
        planned = await _planned_rows(conn, plan.explain)
        if prefs.count_method == "planned" or (total is not None and total > ESTIMATE_THRESHOLD):
            total = planned if prefs.count_method == "planned" else max(total or 0, planned)
    if plan.single and rows != 1:
        raise singular(rows)
    if prefs.strict and prefs.max_affected is not None and plan.kind in ("update", "delete") \
            and rows > prefs.max_affected:
        raise RestError(400, "PGRST124", "Query result exceeds max-affected preference constraint",
                        f"The query affects {rows} rows")
    return Outcome(body, rows, total)


async def _planned_rows(conn: psycopg.AsyncConnection, explain: planner.Statement) -> int:
    """The top plan node's row estimate (PostgREST's planned count)."""
    cursor = await conn.execute(explain.query, explain.params)
    row = await cursor.fetchone()
    document = row[0] if row is not None else None
    if isinstance(document, str):
        document = json.loads(document)
    return int(document[0]["Plan"]["Plan Rows"]) if document else 0


