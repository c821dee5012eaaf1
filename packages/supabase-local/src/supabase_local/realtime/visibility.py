"""May this subscriber see this row? Asked of PostgreSQL as the subscriber's role with its JWT claims, so
grants and RLS policies decide exactly as they do for a REST request.

Rows are checked in batches: one read-only transaction per table and role+claims, sent as one message (the
settings and the check, values quoted by psycopg, in the implicit transaction of a multi-statement query),
which looks the new rows up by primary key in the live table (the change is committed, so the row is there
unless a later change removed it). Deletes cannot be checked against a row that is gone; as on Supabase they go to every
subscriber allowed to SELECT the table, carrying the primary key only.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import structlog
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from supabase_local.realtime.auth import Auth
from supabase_local.realtime.catalog import TableInfo

log = structlog.get_logger(__name__)

AS_ROLE = sql.SQL("select set_config('role', {role}, true), set_config('request.jwt.claims', {claims}, true), "
                  "set_config('transaction_read_only', 'on', true); {query}")


class Visibility:
    """Row and table visibility checks run as the subscriber, over the ``authenticator`` login."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _as_role(self, auth: Auth, query: sql.Composable, table: TableInfo) -> list[tuple[Any, ...]]:
        """Rows of ``query`` (values already quoted in it) run as ``auth``; none when the database refuses (no
        grant, unknown role). A lost connection is raised, so the change feed retries the batch."""
        statement = AS_ROLE.format(role=sql.Literal(auth.role), claims=sql.Literal(auth.claims_json), query=query)
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(statement)
                while cur.nextset():
                    pass
                return await cur.fetchall()
        except psycopg.OperationalError:
            raise
        except psycopg.Error as error:
            log.info("realtime.not_visible", role=auth.role, table=f"{table.schema}.{table.name}",
                     reason=str(error).strip())
            return []

    async def may_select(self, table: TableInfo, auth: Auth) -> bool:
        """True when ``auth``'s role holds SELECT on the table."""
        query = sql.SQL("select has_table_privilege(current_user, {rel}, 'SELECT')").format(
            rel=sql.Literal(f"{table.schema}.{table.name}"))
        rows = await self._as_role(auth, query, table)
        return bool(rows and rows[0][0])

    async def visible(self, table: TableInfo, auth: Auth, records: list[dict[str, Any]]) -> set[int]:
        """The positions in ``records`` of the rows ``auth`` may SELECT now."""
        if not records:
            return set()
        if not table.rls:
            return set(range(len(records))) if await self.may_select(table, auth) else set()
        if not table.primary_key:
            log.warning("realtime.rls_without_primary_key", table=f"{table.schema}.{table.name}",
                        reason="rows of a table with RLS and no primary key cannot be checked; not sent")
            return set()
        rel = sql.Identifier(table.schema, table.name)
        same_key = sql.SQL(" and ").join(
            sql.SQL("t.{col} = r.{col}").format(col=sql.Identifier(col))
            for col in table.primary_key)
        keys = [{col: record.get(col) for col in table.primary_key} for record in records]
        query = sql.SQL(
            "select k.ord - 1 from jsonb_array_elements({rows}::jsonb) with ordinality k(j, ord) "
            "cross join lateral jsonb_populate_record(null::{rel}, k.j) r "
            "where exists (select 1 from {rel} t where {same_key})").format(
                rows=sql.Literal(json.dumps(keys)), rel=rel, same_key=same_key)
        rows = await self._as_role(auth, query, table)
        return {int(row[0]) for row in rows}
