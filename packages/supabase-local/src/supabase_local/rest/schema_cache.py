"""What the gateway knows of the database: exposed tables, views and functions with their columns.

Every identifier a client sends is checked against this cache before it reaches SQL. The cache is loaded
from the catalogs in one snapshot and replaced whole on reload, so a request always sees one version.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import psycopg
import structlog

from supabase_local.rest import relationships
from supabase_local.rest.relations import ForeignKey, Relation
from supabase_local.rest.relationships import Relationship

__all__ = ["ForeignKey", "Param", "Relation", "Routine", "SchemaCache", "load"]

log = structlog.get_logger(__name__)

VERSION_SQL = "select count(*) from extensions.rest_schema_changes"

RELATIONS_SQL = """
select n.nspname, c.relname,
       coalesce(array_agg(a.attname::text order by a.attnum) filter (where a.attnum is not null), '{}'),
       coalesce((select array_agg(pa.attname::text order by k.ord)
                   from pg_constraint con
                   cross join unnest(con.conkey) with ordinality k(attnum, ord)
                   join pg_attribute pa on pa.attrelid = con.conrelid and pa.attnum = k.attnum
                  where con.conrelid = c.oid and con.contype = 'p'), '{}')
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
 where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'v', 'm', 'f', 'p')
 group by n.nspname, c.relname, c.oid
"""

# Foreign keys between exposed tables; ``one_to_one`` when the referencing columns are also a primary key or
# unique constraint of their table (PostgREST's O2O).
FOREIGN_KEYS_SQL = """
select con.conname::text, ns.nspname::text, cl.relname::text, fns.nspname::text, fcl.relname::text,
       array(select a.attname::text from unnest(con.conkey) with ordinality k(num, ord)
               join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num order by k.ord),
       array(select a.attname::text from unnest(con.confkey) with ordinality k(num, ord)
               join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num order by k.ord),
       exists(select 1 from pg_constraint u
               where u.conrelid = con.conrelid and u.contype in ('p', 'u')
                 and u.conkey @> con.conkey and u.conkey <@ con.conkey)
  from pg_constraint con
  join pg_class cl on cl.oid = con.conrelid
  join pg_namespace ns on ns.oid = cl.relnamespace
  join pg_class fcl on fcl.oid = con.confrelid
  join pg_namespace fns on fns.oid = fcl.relnamespace
 where con.contype = 'f' and ns.nspname = any(%(schemas)s) and fns.nspname = any(%(schemas)s)
 order by con.conname
"""

ROUTINES_SQL = """
select n.nspname, p.proname, p.proretset, p.provolatile, p.pronargdefaults,
       coalesce(p.proargnames, '{}')::text[],
       coalesce(p.proargmodes::text[], '{}'),
       array(select format_type(t.oid, null) from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]))
                    with ordinality u(oid, ord) join pg_type t on t.oid = u.oid order by u.ord),
       p.prorettype = 'void'::regtype,
       rt.typtype = 'c' or p.prorettype = 'record'::regtype,
       coalesce((select array_agg(ra.attname::text order by ra.attnum) from pg_attribute ra
                  where ra.attrelid = rt.typrelid and ra.attnum > 0 and not ra.attisdropped), '{}')
  from pg_proc p
  join pg_namespace n on n.oid = p.pronamespace
  join pg_type rt on rt.oid = p.prorettype
 where n.nspname = any(%(schemas)s) and p.prokind = 'f'
"""

# The settings of each role the gateway may switch to (``alter role ... set``, database-specific ones last so
# they win), limited to those the gateway's own role may set; PostgREST applies them per request because
# ``set role`` does not.
ROLE_SETTINGS_SQL = """
select r.rolname, split_part(c.setting, '=', 1), substr(c.setting, strpos(c.setting, '=') + 1)
  from pg_auth_members m
  join pg_roles r on r.oid = m.roleid
  join pg_db_role_setting d on d.setrole = r.oid
   and d.setdatabase in (0, (select oid from pg_database where datname = current_database()))
  cross join lateral unnest(d.setconfig) as c(setting)
  join pg_settings ps on ps.name = split_part(c.setting, '=', 1)
 where m.member = current_user::regrole
   and (ps.context = 'user' or has_parameter_privilege(ps.name, 'set'))
 order by r.rolname, d.setdatabase
"""


@dataclass(frozen=True)
class Param:
    """One input parameter of a function."""

    name: str
    type: str
    has_default: bool
    variadic: bool


@dataclass(frozen=True)
class Routine:
    """A function callable as ``/rpc/<name>`` and the shape of what it returns."""

    schema: str
    name: str
    params: tuple[Param, ...]
    returns_set: bool
    returns_void: bool
    returns_composite: bool
    out_columns: tuple[str, ...]
    volatile: bool

    @property
    def required(self) -> frozenset[str]:
        return frozenset(p.name for p in self.params if not p.has_default)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.params)

    @property
    def single_json_body(self) -> bool:
        """A function of one unnamed json/jsonb parameter receives the whole request body."""
        return len(self.params) == 1 and not self.params[0].name and self.params[0].type in ("json", "jsonb")


@dataclass
class SchemaCache:
    """Relations and routines by (schema, name); ``version`` is the DDL counter it was loaded at."""

    schemas: tuple[str, ...]
    relations: dict[tuple[str, str], Relation] = field(default_factory=dict)
    routines: dict[tuple[str, str], list[Routine]] = field(default_factory=dict)
    role_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    foreign_keys: tuple[ForeignKey, ...] = ()
    relationships: dict[tuple[str, str], list[Relationship]] = field(default_factory=dict)
    version: int | None = None


def _routine(row: tuple) -> Routine:
    schema, name, retset, volatility, ndefaults, names, modes, types, is_void, is_composite, rel_cols = row
    modes = list(modes) or ["i"] * len(types)
    names = list(names) or [""] * len(types)
    inputs = [(names[i], types[i], modes[i]) for i in range(len(types)) if modes[i] in ("i", "b", "v")]
    outs = tuple(names[i] for i in range(len(types)) if modes[i] in ("o", "b", "t"))
    first_default = len(inputs) - ndefaults
    params = tuple(Param(pname, ptype, index >= first_default, mode == "v")
                   for index, (pname, ptype, mode) in enumerate(inputs))
    return Routine(schema, name, params, retset, is_void, is_composite, tuple(rel_cols) or outs,
                   volatility == "v")


async def current_version(conn: psycopg.AsyncConnection) -> int | None:
    """How many DDL transactions have committed (logged by the schema-reload event trigger); None where the
    log does not exist."""
    try:
        async with conn.transaction():
            row = await (await conn.execute(VERSION_SQL)).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return int(row[0]) if row else None


async def load(conn: psycopg.AsyncConnection, schemas: tuple[str, ...]) -> SchemaCache:
    """Read the exposed schemas' relations and functions, the API roles' settings and the DDL count, in one
    snapshot."""
    routines: dict[tuple[str, str], list[Routine]] = defaultdict(list)
    role_settings: dict[str, dict[str, str]] = defaultdict(dict)
    async with conn.transaction():
        await conn.execute("set transaction isolation level repeatable read")
        version = await current_version(conn)
        cache = SchemaCache(schemas=schemas, version=version)
        cur = await conn.execute(RELATIONS_SQL, {"schemas": list(schemas)})
        for schema, name, columns, pkey in await cur.fetchall():
            cache.relations[(schema, name)] = Relation(schema, name, tuple(columns), tuple(pkey))
        cur = await conn.execute(FOREIGN_KEYS_SQL, {"schemas": list(schemas)})
        cache.foreign_keys = tuple(ForeignKey(name, (schema, table), (fschema, ftable), tuple(cols), tuple(fcols),
                                              one_to_one)
                                   for name, schema, table, fschema, ftable, cols, fcols, one_to_one
                                   in await cur.fetchall())
        cur = await conn.execute(ROUTINES_SQL, {"schemas": list(schemas)})
        for row in await cur.fetchall():
            routine = _routine(row)
            routines[(routine.schema, routine.name)].append(routine)
        cur = await conn.execute(ROLE_SETTINGS_SQL)
        for role, name, value in await cur.fetchall():
            role_settings[role][name] = value
    cache.routines = dict(routines)
    cache.relationships = relationships.build(cache.foreign_keys, cache.relations)
    cache.role_settings = dict(role_settings)
    log.info("rest.schema_cache.loaded", relations=len(cache.relations), routines=len(cache.routines),
             version=version)
    return cache
