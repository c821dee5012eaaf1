-- The work queue and its dead-letter queue. pgmq.create is not called again once a queue exists.
do $$
begin
  if to_regclass('pgmq.q_work_queue') is null then
    perform pgmq.create('work_queue');
  end if;
  if to_regclass('pgmq.q_work_queue_dlq') is null then
    perform pgmq.create('work_queue_dlq');
  end if;
end
$$;

-- As Supabase asks once queues are exposed: row level security on every queue table, no policies, so the
-- API roles see no messages even where pgmq_public is granted. Owners and service_role bypass RLS.
alter table pgmq.q_work_queue enable row level security;
alter table pgmq.a_work_queue enable row level security;
alter table pgmq.q_work_queue_dlq enable row level security;
alter table pgmq.a_work_queue_dlq enable row level security;

-- anon and authenticated reach the queue only through submit_job(). This takes back what postgres (or an
-- earlier run) granted them on the platform schemas; provisioning calls it on every run. What supabase_admin
-- granted (on Supabase: pg_net's functions, PGMQ's functions through PUBLIC) postgres cannot revoke, and
-- PostgreSQL says nothing when a revoke finds nothing of the caller's: platform_access_left() below lists
-- what remains, and provisioning reports it.
create or replace function jobqueue_private.revoke_platform_access()
returns void
language plpgsql
set search_path = ''
as $$
declare
  grant_made record;
begin
  -- Only the grants this role made: revoking another grantor's privilege is an error or a silent no-op.
  for grant_made in
    with platform as (
      select n.oid, n.nspname, n.nspacl from pg_catalog.pg_namespace n
      where n.nspname in ('pgmq', 'pgmq_public', 'net', 'cron', 'vault')
    ), acl as (
      select 'schema' as kind, pg_catalog.quote_ident(p.nspname) as object_name, a.grantor, a.grantee
      from platform p, pg_catalog.aclexplode(p.nspacl) a
      union all
      select case c.relkind when 'S' then 'sequence' else 'table' end, c.oid::regclass::text, a.grantor, a.grantee
      from platform p join pg_catalog.pg_class c on c.relnamespace = p.oid, pg_catalog.aclexplode(c.relacl) a
      union all
      select 'routine', f.oid::regprocedure::text, a.grantor, a.grantee
      from platform p join pg_catalog.pg_proc f on f.pronamespace = p.oid, pg_catalog.aclexplode(f.proacl) a
    )
    select distinct acl.kind, acl.object_name, r.rolname
    from acl join pg_catalog.pg_roles r on r.oid = acl.grantee
    where acl.grantor = (select u.oid from pg_catalog.pg_roles u where u.rolname = current_user)
      and r.rolname in ('anon', 'authenticated')
  loop
    execute format('revoke all on %s %s from %I', grant_made.kind, grant_made.object_name, grant_made.rolname);
  end loop;
end
$$;
revoke all on function jobqueue_private.revoke_platform_access() from public, anon, authenticated;

-- What the API roles can still reach in the platform schemas, one row per role, schema and kind.
create or replace function jobqueue_private.platform_access_left()
returns table (role_name text, schema_name text, privilege text, objects text[])
language sql
stable
set search_path = ''
as $$
  with roles(role_name) as (values ('anon'), ('authenticated')),
  schemas as (
    select n.oid, n.nspname::text as schema_name from pg_catalog.pg_namespace n
    where n.nspname in ('pgmq', 'pgmq_public', 'net', 'cron', 'vault')
  )
  select r.role_name, s.schema_name, 'usage', array[]::text[]
  from roles r cross join schemas s
  where pg_catalog.has_schema_privilege(r.role_name, s.oid, 'usage')
  union all
  select r.role_name, s.schema_name, 'execute',
         array_agg(p.oid::regprocedure::text order by p.oid::regprocedure::text)
  from roles r cross join schemas s
  join pg_catalog.pg_proc p on p.pronamespace = s.oid
  where pg_catalog.has_schema_privilege(r.role_name, s.oid, 'usage')
    and pg_catalog.has_function_privilege(r.role_name, p.oid, 'execute')
  group by r.role_name, s.schema_name
  union all
  select r.role_name, s.schema_name, 'tables', array_agg(c.oid::regclass::text order by c.oid::regclass::text)
  from roles r cross join schemas s
  join pg_catalog.pg_class c on c.relnamespace = s.oid and c.relkind in ('r', 'v', 'p')
  where pg_catalog.has_schema_privilege(r.role_name, s.oid, 'usage')
    and pg_catalog.has_table_privilege(r.role_name, c.oid, 'select, insert, update, delete')
  group by r.role_name, s.schema_name
  order by 1, 2, 3
$$;
revoke all on function jobqueue_private.platform_access_left() from public, anon, authenticated;

select jobqueue_private.revoke_platform_access();
