-- The REST gateway's schema cache follows DDL as PostgREST's does on Supabase: every DDL command bumps a
-- counter (read by the gateway when a request names something it does not know yet) and sends
-- NOTIFY pgrst, 'reload schema'.
create sequence if not exists extensions.rest_schema_version;
grant usage on schema extensions to authenticator;
grant select on sequence extensions.rest_schema_version to authenticator;

create or replace function extensions.rest_schema_changed() returns event_trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform nextval('extensions.rest_schema_version');
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
