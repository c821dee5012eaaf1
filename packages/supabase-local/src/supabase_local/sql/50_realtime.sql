-- Change capture for Realtime's postgres_changes.
--
-- Hosted Supabase decodes the WAL of the `supabase_realtime` publication. Here the server has no wal2json
-- and the Python driver cannot speak the replication protocol, so changes are captured by a row trigger
-- that this file keeps attached to exactly the tables of the publication:
--   * `realtime.capture_change()` writes each row change to `realtime.change_log` (no size limit) and
--     notifies `realtime_changes` with the transaction id. NOTIFY is delivered only after commit, once per
--     transaction and in commit order, so the gateway reads a transaction's rows when its id arrives.
--   * It does so only for tables someone subscribes to: the gateway keeps `realtime.watched_tables` (schema
--     and table, `*` for any) in step with its clients' `postgres_changes` bindings, as hosted Realtime keeps
--     `realtime.subscription` and decodes changes only for the tables listed there. A change made before a
--     subscription was in place is not sent to it, as on Supabase; the join is answered once its row is in.
--   * `realtime.sync_publication_triggers()` attaches the trigger to every table of the publication and
--     removes it from tables that left it; an event trigger runs it after the DDL that can change that set,
--     so `alter publication supabase_realtime add table …` is all a user does, as on Supabase.
--   * Every DDL also notifies `realtime_ddl`, so the gateway forgets what it knew about tables.
create schema if not exists realtime;
revoke all on schema realtime from public;

create table if not exists realtime.change_log (
  id bigint generated always as identity primary key,
  xid xid8 not null,
  schema_name text not null,
  table_name text not null,
  op text not null check (op in ('INSERT', 'UPDATE', 'DELETE')),
  record jsonb,
  old_record jsonb,
  commit_ts timestamptz not null default now()
);
create index if not exists change_log_xid on realtime.change_log (xid, id);

create table if not exists realtime.watched_tables (
  schema_name text not null,
  table_name text not null,
  primary key (schema_name, table_name)
);

-- The trigger's arguments say what of the old row a change keeps, as the WAL would hold it: `full` (replica
-- identity full: the whole row) or `key` followed by the primary key's columns (the old key only).
create or replace function realtime.capture_change() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  tx xid8;
  old_row jsonb;
begin
  if not exists (select from realtime.watched_tables w
                 where w.schema_name in (tg_table_schema, '*') and w.table_name in (tg_table_name, '*')) then
    return null;
  end if;
  tx := pg_catalog.pg_current_xact_id();
  if tg_op <> 'INSERT' then
    old_row := pg_catalog.to_jsonb(old);
    if tg_nargs > 0 and tg_argv[0] = 'key' then
      old_row := (select pg_catalog.jsonb_object_agg(k.name, old_row -> k.name)
                  from pg_catalog.unnest(tg_argv[1:tg_nargs - 1]) as k(name));
    end if;
  end if;
  insert into realtime.change_log (xid, schema_name, table_name, op, record, old_record)
  values (tx, tg_table_schema, tg_table_name, tg_op,
          case when tg_op <> 'DELETE' then pg_catalog.to_jsonb(new) end, old_row);
  perform pg_catalog.pg_notify('realtime_changes', tx::text);
  return null;
end
$$;

-- What `capture_change` is given for a table: `{full}` or `{key, <primary key columns>}`.
create or replace function realtime.capture_arguments(rel oid) returns text[]
language sql stable set search_path = '' as $$
  select case when c.relreplident = 'f' then array['full']
              else array['key'] || coalesce(
                (select pg_catalog.array_agg(a.attname::text
                                             order by pg_catalog.array_position(i.indkey::int2[], a.attnum))
                 from pg_catalog.pg_index i
                 join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
                 where i.indrelid = c.oid and i.indisprimary), '{}') end
  from pg_catalog.pg_class c where c.oid = rel
$$;

-- A trigger's arguments as pg_trigger.tgargs stores them: each followed by a zero byte.
create or replace function realtime.stored_arguments(arguments text[]) returns bytea
language sql immutable set search_path = '' as $$
  select coalesce(pg_catalog.string_agg(pg_catalog.convert_to(a, 'UTF8') || '\x00'::bytea, ''::bytea order by o),
                  ''::bytea)
  from pg_catalog.unnest(arguments) with ordinality as u(a, o)
$$;

create or replace function realtime.sync_publication_triggers() returns void
language plpgsql security definer set search_path = '' as $$
declare
  target record;
begin
  -- Published tables without the trigger, or with arguments their replica identity or key no longer match.
  for target in
    select c.oid::regclass as rel, wanted.arguments,
           exists (select from pg_catalog.pg_trigger t
                   where t.tgrelid = c.oid and t.tgname = 'realtime_capture') as present
    from pg_catalog.pg_publication_tables pt
    join pg_catalog.pg_namespace n on n.nspname = pt.schemaname
    join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename
    cross join lateral (select realtime.capture_arguments(c.oid) as arguments) as wanted
    where pt.pubname = 'supabase_realtime' and c.relkind in ('r', 'p')
      and not exists (select from pg_catalog.pg_trigger t
                      where t.tgrelid = c.oid and t.tgname = 'realtime_capture'
                        and t.tgargs = realtime.stored_arguments(wanted.arguments))
  loop
    if target.present then
      execute pg_catalog.format('drop trigger realtime_capture on %s', target.rel);
    end if;
    execute pg_catalog.format('create trigger realtime_capture after insert or update or delete on %s '
                              'for each row execute function realtime.capture_change(%s)', target.rel,
                              (select pg_catalog.string_agg(pg_catalog.quote_literal(a), ', ')
                               from pg_catalog.unnest(target.arguments) as a));
  end loop;
  for target in
    select t.tgrelid::regclass as rel
    from pg_catalog.pg_trigger t
    join pg_catalog.pg_class c on c.oid = t.tgrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where t.tgname = 'realtime_capture'
      and not exists (select from pg_catalog.pg_publication_tables pt
                      where pt.pubname = 'supabase_realtime'
                        and pt.schemaname = n.nspname and pt.tablename = c.relname)
  loop
    execute pg_catalog.format('drop trigger realtime_capture on %s', target.rel);
  end loop;
end
$$;

create or replace function realtime.on_ddl() returns event_trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_tag in ('CREATE PUBLICATION', 'ALTER PUBLICATION', 'DROP PUBLICATION', 'CREATE TABLE',
                'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE') then
    perform realtime.sync_publication_triggers();
  end if;
  perform pg_catalog.pg_notify('realtime_ddl', tg_tag);
end
$$;

do $$
begin
  if not exists (select from pg_event_trigger where evtname = 'realtime_publication_sync') then
    create event trigger realtime_publication_sync on ddl_command_end
      execute function realtime.on_ddl();
  end if;
end
$$;

select realtime.sync_publication_triggers();
