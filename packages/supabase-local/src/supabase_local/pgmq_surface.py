"""Which PGMQ the embedded stack presents: the one hosted Supabase ships, not only the newest.

The ``pgmq`` wheel bundles PGMQ 1.13's SQL. Hosted projects run 1.4.4 (older projects) or 1.5.1 (newer
ones). ``SUPABASE_LOCAL_PGMQ_SURFACE`` picks the surface a new stack presents; for 1.4.4 and 1.5.1 the
functions and queue-table columns that version lacks are removed after install and the message functions
are replaced by ones over that version's table shape (``sql/pgmq_surface/messages.sql``), so SQL that
passes here passes on that hosted version. The names and columns per version were read from PGMQ's own
history (pgmq/pgmq, ``pgmq-extension/sql/pgmq.sql`` at tags v1.4.4 and v1.5.1); docs/hosted-roles.md lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files

SURFACE_ENV = "SUPABASE_LOCAL_PGMQ_SURFACE"
NEWEST = "1.13"
DEFAULT = "1.5.1"

# Function names of PGMQ 1.4.4 (underscore helpers included); later versions add to these.
_NAMES_1_4_4 = (
    "format_table_name", "read", "read_with_poll", "archive", "delete", "send", "send_batch", "metrics",
    "metrics_all", "list_queues", "purge_queue", "detach_archive", "pop", "set_vt", "drop_queue",
    "validate_queue_name", "create_non_partitioned", "create_unlogged", "create_partitioned", "create",
    "convert_archive_partitioned", "_belongs_to_pgmq", "_get_pg_partman_schema", "_get_partition_col",
    "_ensure_pg_partman_installed", "_get_pg_partman_major_version",
)
# Helpers of 1.13 that the 1.13 functions kept on every surface (drop_queue, send_batch) call.
_KEPT_HELPERS = ("acquire_queue_lock", "_validate_batch_params", "_send_batch")

_SEND_1_4_4 = """
create function pgmq.send(queue_name text, msg jsonb, delay integer default 0)
returns setof bigint
language plpgsql
as $$
begin
  return query execute format(
    'insert into pgmq.%I (vt, message) values (clock_timestamp() + $2, $1) returning msg_id',
    pgmq.format_table_name(queue_name, 'q'))
  using msg, make_interval(secs => delay);
end
$$;

create function pgmq.send_batch(queue_name text, msgs jsonb[], delay integer default 0)
returns setof bigint
language plpgsql
as $$
begin
  return query execute format(
    'insert into pgmq.%I (vt, message) select clock_timestamp() + $2, unnest($1) returning msg_id',
    pgmq.format_table_name(queue_name, 'q'))
  using msgs, make_interval(secs => delay);
end
$$;
"""


DROP_HEADERS = "alter type pgmq.message_record drop attribute if exists headers;"


class SurfaceError(ValueError):
    """The chosen PGMQ surface is not one the stack can present."""


@dataclass(frozen=True)
class Surface:
    """What one PGMQ version shows: its function names, its message columns and its signatures."""

    version: str
    names: tuple[str, ...]
    headers: bool
    conditional_read: bool
    send_sql: str

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of a message, in pgmq.message_record's order."""
        return ("msg_id", "read_ct", "enqueued_at", "vt", "message") + (("headers",) if self.headers else ())

    def render(self, template: str) -> str:
        """The template with this version's names, columns and signatures filled in."""
        keep = ", ".join(f"'{name}'" for name in (*self.names, *_KEPT_HELPERS))
        values = {
            "@KEEP_NAMES@": f"array[{keep}]",
            "@REDEFINED@": ", 'send', 'send_batch'" if self.send_sql else "",
            "@DROP_HEADERS@": "" if self.headers else DROP_HEADERS,
            "@HEAD_DEFS@": "read_ct integer not null default 0, enqueued_at timestamptz not null default now()",
            "@TAIL_DEFS@": "vt timestamptz not null, message jsonb" + (", headers jsonb" if self.headers else ""),
            "@SEND@": self.send_sql,
            "@CONDITIONAL_ARG@": ", conditional jsonb default '{}'" if self.conditional_read else "",
            "@CONDITIONAL_FORWARD@": ", conditional" if self.conditional_read else "",
            "@READ_FILTER@": "and ($3 = ''{}''::jsonb or message @> $3)" if self.conditional_read else "",
            "@RETURNING@": ", ".join(f"m.{column}" for column in self.columns),
            "@COLUMNS@": ", ".join(self.columns),
        }
        for placeholder, value in values.items():
            template = template.replace(placeholder, value)
        return template


SURFACES = {
    "1.4.4": Surface("1.4.4", _NAMES_1_4_4, headers=False, conditional_read=False, send_sql=_SEND_1_4_4),
    "1.5.1": Surface("1.5.1", (*_NAMES_1_4_4, "_extension_exists"), headers=True, conditional_read=True,
                     send_sql=""),
}


def chosen(environ: dict[str, str] | None = None) -> str:
    """The surface named by ``SUPABASE_LOCAL_PGMQ_SURFACE`` (default: the newest Supabase ships)."""
    value = (os.environ if environ is None else environ).get(SURFACE_ENV) or DEFAULT
    if value != NEWEST and value not in SURFACES:
        raise SurfaceError(f"{SURFACE_ENV}={value!r} is not a PGMQ version the stack can present; "
                           f"use one of {', '.join([*SURFACES, NEWEST])}")
    return value


def scripts(version: str) -> list[tuple[str, str]]:
    """The SQL that cuts the installed PGMQ down to ``version``, named for the bootstrap ledger."""
    if version == NEWEST:
        return []
    if version not in SURFACES:
        raise SurfaceError(f"unknown PGMQ surface {version!r}")
    template = files("supabase_local").joinpath("sql", "pgmq_surface", "messages.sql").read_text(encoding="utf-8")
    return [(f"pgmq_surface/{version}", SURFACES[version].render(template))]
