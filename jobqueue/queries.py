"""Every SQL statement the app package runs from Python, in one place, parameterised."""

from __future__ import annotations

PROVISION_LOCK = "select pg_advisory_lock(hashtext('test_queue.provision'))"
PROVISION_UNLOCK = "select pg_advisory_unlock(hashtext('test_queue.provision'))"

# The Supabase CLI's migration history (supabase/cli, pkg/migration/history.go): the same table, created the
# same way, so `supabase migration list` / `db push` see what provisioning applied and skip it.
MIGRATION_HISTORY_TABLE = [
    "create schema if not exists supabase_migrations",
    "create table if not exists supabase_migrations.schema_migrations (version text not null primary key)",
    "alter table supabase_migrations.schema_migrations add column if not exists statements text[]",
    "alter table supabase_migrations.schema_migrations add column if not exists name text",
]
APPLIED_MIGRATIONS = ("select version, coalesce(name, '') as name, statements "
                      "from supabase_migrations.schema_migrations")
RECORD_MIGRATION = ("insert into supabase_migrations.schema_migrations (version, name, statements) "
                    "values (%(version)s, %(name)s, %(statements)s)")
RESET_SESSION = "reset all"

REVOKE_PLATFORM_ACCESS = "select jobqueue_private.revoke_platform_access()"
PLATFORM_ACCESS_LEFT = ("select role_name, schema_name, privilege, objects "
                        "from jobqueue_private.platform_access_left()")
STORE_WEBHOOK_SECRET = "select jobqueue_private.store_webhook_secret(%(secret)s)"  # noqa: S105 - a query

UPSERT_JOB_TYPE = """
insert into public.job_types as t (name, description, priority, max_attempts, timeout_seconds, payload_schema)
values (%(name)s, %(description)s, %(priority)s, %(max_attempts)s, %(timeout_seconds)s, %(payload_schema)s)
on conflict (name) do update
set description = excluded.description, priority = excluded.priority, max_attempts = excluded.max_attempts,
    timeout_seconds = excluded.timeout_seconds, payload_schema = excluded.payload_schema, updated_at = now()
where (t.description, t.priority, t.max_attempts, t.timeout_seconds, t.payload_schema)
      is distinct from (excluded.description, excluded.priority, excluded.max_attempts, excluded.timeout_seconds,
                        excluded.payload_schema)
returning t.name
"""

WRITE_SETTING = """
insert into jobqueue_private.settings as s (key, value) values (%(key)s, %(value)s)
on conflict (key) do update set value = excluded.value, updated_at = now()
where s.value is distinct from excluded.value
returning s.key
"""

DELETE_SETTING = """
delete from jobqueue_private.settings where key = %(key)s returning key
"""

PLATFORM = """
select c.component, c.present,
       coalesce('extension ' || e.extversion,
                case when c.present then 'stand-in (embedded stack)' else 'missing' end) as provided_by
from (values
  ('pgmq', exists (select from pg_proc where pronamespace = to_regnamespace('pgmq') and proname = 'send')),
  ('pg_net', to_regprocedure('net.http_post(text,jsonb,jsonb,jsonb,integer)') is not null),
  ('pg_cron', to_regclass('cron.job') is not null),
  ('pgcrypto', to_regprocedure('extensions.hmac(bytea,bytea,text)') is not null),
  ('pg_jsonschema', to_regprocedure('extensions.jsonb_matches_schema(json,jsonb)') is not null),
  ('supabase_vault', to_regclass('vault.decrypted_secrets') is not null)
) as c(component, present)
left join pg_extension e on e.extname = c.component
order by c.component
"""

QUEUES = """
select m.queue_name, m.queue_length, m.total_messages,
       (select count(*) from pg_policies p where p.schemaname = 'pgmq' and p.tablename = 'q_' || m.queue_name)
         as policies,
       (select c.relrowsecurity from pg_class c where c.oid = to_regclass('pgmq.q_' || m.queue_name)) as rls
from pgmq.metrics_all() as m
order by m.queue_name
"""

TRIGGERS = """
select t.tgname as trigger, t.tgrelid::regclass::text as on_table, t.tgfoid::regproc::text as calls,
       p.prosecdef as security_definer
from pg_trigger t join pg_proc p on p.oid = t.tgfoid
where not t.tgisinternal and t.tgrelid in ('pgmq.q_work_queue'::regclass, 'public.job_results'::regclass)
order by t.tgname
"""

POLICIES = """
select schemaname || '.' || tablename as on_table, policyname as policy, cmd as command,
       array_to_string(roles, ', ') as roles, qual as using_expression
from pg_policies
where (schemaname = 'public' and tablename = 'job_results')
   or (schemaname = 'realtime' and tablename = 'messages' and policyname like 'job%')
order by schemaname, policyname
"""

TABLE_GRANTS = """
select r.rolname as role,
       has_table_privilege(r.rolname, 'public.job_results', 'select') as can_select,
       has_table_privilege(r.rolname, 'public.job_results', 'insert') as can_insert,
       has_table_privilege(r.rolname, 'public.job_results', 'update') as can_update,
       has_table_privilege(r.rolname, 'public.job_results', 'delete') as can_delete
from pg_roles r where r.rolname in ('anon', 'authenticated', 'service_role')
order by r.rolname
"""

FUNCTION_GRANTS = """
select p.proname as function, p.prosecdef as security_definer,
       has_function_privilege('anon', p.oid, 'execute') as anon,
       has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
       has_function_privilege('service_role', p.oid, 'execute') as service_role
from pg_proc p
where p.pronamespace = 'public'::regnamespace and p.proname = any(%(names)s)
order by p.proname
"""

CRON_JOBS = "select jobname, schedule, command, active from cron.job order by jobname"

CREATE_QUEUE = "select pgmq.create(%(queue)s)"
SEND_MESSAGE = "select * from pgmq.send(%(queue)s, %(message)s::jsonb) as sent(msg_id)"
READ_MESSAGE = "select msg_id, read_ct, message from pgmq.read(%(queue)s, %(vt)s, 1)"
DROP_QUEUE = "select pgmq.drop_queue(%(queue)s)"

FUNCTION_DEFINITION = """
select p.oid::regprocedure::text as function, p.prosrc as body, pg_get_functiondef(p.oid) as definition,
       has_function_privilege('anon', p.oid, 'execute') as anon,
       has_function_privilege('service_role', p.oid, 'execute') as service_role
from pg_proc p
where p.oid = to_regproc(%(name)s)
"""

TRIGGER_DEFINITION = """
select t.tgrelid::regclass::text as on_table, pg_get_triggerdef(t.oid) as definition,
       t.tgenabled <> 'D' as enabled
from pg_trigger t
where t.tgname = %(name)s and not t.tgisinternal
order by t.tgrelid::regclass::text
"""

DATABASE_NOW = "select clock_timestamp() as now"

JOBS_SINCE = """
select task_name as job, status, attempts, coalesce(result, error, '') as result_or_error
from public.job_results
where created_at >= %(since)s
order by created_at, task_name
"""

# What supabase/schema.sql lists of the platform's objects the migrations set up.
SNAPSHOT_QUEUES = """
select m.queue_name, c.relrowsecurity from pgmq.meta m
join pg_class c on c.oid = to_regclass('pgmq.q_' || m.queue_name)
order by m.queue_name
"""
SNAPSHOT_PLATFORM_TRIGGERS = """
select pg_get_triggerdef(t.oid) from pg_trigger t join pg_class c on c.oid = t.tgrelid
where not t.tgisinternal and c.relnamespace = 'pgmq'::regnamespace
order by c.relname, t.tgname
"""
SNAPSHOT_PUBLICATION = """
select schemaname || '.' || tablename from pg_publication_tables where pubname = 'supabase_realtime' order by 1
"""
SNAPSHOT_CRON_JOBS = "select jobname, schedule, command from cron.job order by jobname"

# The dashboard's health panel: queue depth, and the lease of every claimed message (a message read at least once
# is invisible until its vt). Seconds left come from the database's clock, so the countdown does not depend on
# the notebook machine's.
QUEUE_METRICS = ("select queue_name, queue_length, oldest_msg_age_sec, newest_msg_age_sec, total_messages "
                 "from pgmq.metrics(%(queue)s)")
CLAIMED_LEASES = ("select message->>'job_id' as job_id, extract(epoch from vt - clock_timestamp())::float8 as left_s "
                  "from pgmq.q_work_queue where read_ct > 0 limit 1000")

# Notebook 02's steps: the dead letters, and the timers that bring back a job no webhook delivered.
DEAD_LETTERS = ("select msg_id, read_ct, enqueued_at, message->>'job_id' as job_id, "
                "message->>'task_name' as task_name from pgmq.q_work_queue_dlq order by msg_id")
RECOVERY_TIMERS = ("select (select value from jobqueue_private.settings where key = 'redeliver_after_seconds') "
                   "as redeliver_after, "
                   "(select schedule from cron.job where jobname = 'work_queue_sweeper') as sweeper")

# Notebook 01: act as the anon API role inside a transaction (the caller rolls it back), to try what anon may do.
ACT_AS_ANON = "set local role anon"
SETTING_VALUE = "select value from jobqueue_private.settings where key = %(key)s"
