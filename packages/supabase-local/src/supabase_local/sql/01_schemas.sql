-- The schemas and privileges a new Supabase project starts with.
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
grant all on schema extensions to postgres;

grant usage on schema public to postgres, anon, authenticated, service_role;
-- As on Supabase: objects created in public, by postgres or by the platform, are granted to the API roles;
-- RLS and explicit revokes are what protect a table, so migrations must revoke what they do not want exposed.
alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;

do $$
begin
  if not exists (select from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;
-- Supabase creates it as postgres, so a project may add its tables to it.
alter publication supabase_realtime owner to postgres;
