-- The REST gateway's schema cache follows DDL as PostgREST's does on Supabase: every transaction that
-- runs DDL adds one row to a change log (so the gateway, reading the log and the catalogs in one
-- snapshot, knows whether its cache is current) and sends NOTIFY pgrst, 'reload schema'.
create table if not exists extensions.rest_schema_changes (
  txid xid8 primary key,
  changed_at timestamptz not null default now()
);
grant usage on schema extensions to authenticator;
grant select on extensions.rest_schema_changes to authenticator;

create or replace function extensions.rest_schema_changed() returns event_trigger
language plpgsql security definer set search_path = '' as $$
begin
  insert into extensions.rest_schema_changes (txid) values (pg_current_xact_id()) on conflict do nothing;
  notify pgrst, 'reload schema';
end
$$;

do $$
begin
  if not exists (select from pg_event_trigger where evtname = 'rest_schema_changed') then
    create event trigger rest_schema_changed on ddl_command_end execute function extensions.rest_schema_changed();
  end if;
end
$$;
