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

-- anon and authenticated reach the queue only through submit_job(); the platform schemas are closed to them.
-- Supabase grants them pg_net and the pgmq_public wrappers by default, so the grants are taken back here, and
-- provisioning calls this again on every run in case the platform granted them anew.
create or replace function jobqueue_private.revoke_platform_access()
returns void
language plpgsql
set search_path = ''
as $$
declare
  platform_schema text;
begin
  foreach platform_schema in array array['pgmq', 'pgmq_public', 'net', 'cron'] loop
    if to_regnamespace(platform_schema) is not null then
      execute format('revoke all on schema %I from anon, authenticated', platform_schema);
      execute format('revoke all on all tables in schema %I from anon, authenticated', platform_schema);
      execute format('revoke all on all sequences in schema %I from anon, authenticated', platform_schema);
      execute format('revoke all on all functions in schema %I from anon, authenticated', platform_schema);
    end if;
  end loop;
end
$$;
revoke all on function jobqueue_private.revoke_platform_access() from public, anon, authenticated;

select jobqueue_private.revoke_platform_access();
