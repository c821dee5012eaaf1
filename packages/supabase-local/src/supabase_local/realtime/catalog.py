"""What Realtime needs to know about a table: columns and types, primary key, RLS, replica identity and
whether it is in the ``supabase_realtime`` publication. Cached until a DDL notification says otherwise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

PUBLICATION = "supabase_realtime"

TABLE_QUERY = """
select c.relrowsecurity,
       c.relreplident = 'f',
       exists (select from pg_catalog.pg_publication_tables pt
               where pt.pubname = %(pub)s and pt.schemaname = n.nspname and pt.tablename = c.relname),
       coalesce((select json_agg(json_build_array(a.attname, t.typname) order by a.attnum)
                 from pg_catalog.pg_attribute a join pg_catalog.pg_type t on t.oid = a.atttypid
                 where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]'),
       coalesce((select array_agg(a.attname order by array_position(i.indkey::int2[], a.attnum))
                 from pg_catalog.pg_index i
                 join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
                 where i.indrelid = c.oid and i.indisprimary), '{}')
from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and c.relname = %(table)s and c.relkind in ('r', 'p')
"""

PUBLISHED_QUERY = """
select schemaname, tablename from pg_catalog.pg_publication_tables
where pubname = %(pub)s and (%(schema)s = '*' or schemaname = %(schema)s)
"""


@dataclass(frozen=True)
class TableInfo:
    """One table as Realtime sees it."""

    schema: str
    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...]
    rls: bool
    replica_full: bool
    published: bool

    @property
    def column_types(self) -> dict[str, str]:
        return dict(self.columns)

    def columns_payload(self, select: tuple[str, ...] | None = None) -> list[dict[str, str]]:
        """The ``columns`` list of a postgres_changes frame (one shared list per table and selection: frames are
        only ever serialised)."""
        return _columns_payload(self.columns, select)

    def old_record(self, old: dict[str, object] | None) -> dict[str, object]:
        """What Supabase sends as ``old_record``: the whole old row only with ``replica identity full`` and no
        RLS, else its primary key."""
        if old is None:
            return {}
        if self.replica_full and not self.rls:
            return old
        return {name: old.get(name) for name in self.primary_key}


@functools.lru_cache(maxsize=256)
def _columns_payload(columns: tuple[tuple[str, str], ...], select: tuple[str, ...] | None) -> list[dict[str, str]]:
    return [{"name": name, "type": kind} for name, kind in columns if select is None or name in select]


class Catalog:
    """Table metadata looked up on demand and cached until ``invalidate``."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._tables: dict[tuple[str, str], TableInfo | None] = {}

    def invalidate(self) -> None:
        """Forget everything (called on every DDL notification)."""
        self._tables.clear()

    async def table(self, schema: str, name: str, fresh: bool = False) -> TableInfo | None:
        """The table ``schema.name``, or None when it does not exist; ``fresh`` skips the cache (a join may
        come right after the DDL that made it valid, before that DDL's notification arrives)."""
        key = (schema, name)
        if fresh or key not in self._tables:
            async with self._pool.connection() as conn:
                cur = await conn.execute(TABLE_QUERY, {"pub": PUBLICATION, "schema": schema, "table": name})
                row = await cur.fetchone()
            self._tables[key] = None if row is None else TableInfo(
                schema, name, tuple((col, kind) for col, kind in row[3]), tuple(row[4]), row[0], row[1], row[2])
        return self._tables[key]

    async def published(self, schema: str) -> list[tuple[str, str]]:
        """The ``(schema, table)`` pairs of the publication in ``schema`` (``*``: every schema)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(PUBLISHED_QUERY, {"pub": PUBLICATION, "schema": schema})
            return [(row[0], row[1]) for row in await cur.fetchall()]
