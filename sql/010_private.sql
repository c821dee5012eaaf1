-- A private schema for what the API must never show: the webhook URL and secret, tunable settings and
-- the delivery log. It is not exposed through the REST API and the API roles get no grants on it.
create schema if not exists jobqueue_private;
revoke all on schema jobqueue_private from public;
revoke all on schema jobqueue_private from anon, authenticated;

create table if not exists jobqueue_private.settings (
  key text primary key,
  value text not null,
  updated_at timestamptz not null default now()
);
revoke all on jobqueue_private.settings from public, anon, authenticated, service_role;

-- Defaults; provisioning overwrites them from the environment (MAX_ATTEMPTS, WORKER_URL, WEBHOOK_SECRET).
insert into jobqueue_private.settings (key, value)
values ('max_attempts', '5'), ('redeliver_after_seconds', '30'), ('webhook_timeout_ms', '5000')
on conflict (key) do nothing;

-- One row per queued message that was sent to the worker: the sweeper reads it so that it re-sends only
-- messages that nobody claimed, not ones it has just sent.
create table if not exists jobqueue_private.deliveries (
  msg_id bigint primary key,
  job_id uuid not null,
  deliveries integer not null default 1,
  last_delivered_at timestamptz not null,
  last_request_id bigint
);
revoke all on jobqueue_private.deliveries from public, anon, authenticated, service_role;

create or replace function jobqueue_private.setting(name text)
returns text
language sql
stable
set search_path = ''
as $$
  select s.value from jobqueue_private.settings s where s.key = setting.name
$$;

create or replace function jobqueue_private.max_attempts()
returns integer
language sql
stable
set search_path = ''
as $$
  select coalesce(jobqueue_private.setting('max_attempts')::integer, 5)
$$;

revoke all on all functions in schema jobqueue_private from public, anon, authenticated;
