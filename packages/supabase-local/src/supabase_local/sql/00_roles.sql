-- The roles of a hosted Supabase project (docs/hosted-roles.md says where each line comes from).
-- supabase_admin, the superuser that ran initdb, applies these files and owns the platform. `postgres` is
-- the project's own login: not a superuser, with the attributes and grants Supabase gives it. The gateway
-- logs in as `authenticator` and switches to the role of each request's JWT (anon, authenticated or
-- service_role), so grants and RLS decide what a request may do.
do $$
begin
  if not exists (select from pg_roles where rolname = 'postgres') then
    create role postgres;
  end if;
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

-- As Supabase demotes postgres (migrations/db/migrations/10000000000000_demote-postgres.sql).
alter role postgres with nosuperuser createdb createrole login replication bypassrls;
alter role postgres set search_path to "$user", public, extensions;

grant anon, authenticated, service_role to authenticator;
-- postgres may act as the API roles and change their settings, as on Supabase.
grant anon, authenticated, service_role to postgres with admin option;
grant pg_read_all_data, pg_signal_backend, pg_monitor to postgres;

-- The project's database belongs to postgres (Supabase's migrate.sh), so `public` does too.
do $$
begin
  execute format('alter database %I owner to postgres', current_database());
end
$$;

alter role authenticator set statement_timeout = '8s';
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
