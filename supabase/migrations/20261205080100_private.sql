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

-- Defaults; provisioning overwrites them from the environment (MAX_ATTEMPTS, WORKER_URL). The webhook
-- secret is not kept here but in Supabase Vault (see webhook_secret() below).
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

-- The Standard Webhooks secret the worker verifies, from Supabase Vault (provisioning stores it there).
create or replace function jobqueue_private.webhook_secret()
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select s.decrypted_secret from vault.decrypted_secrets s
  where s.name = 'test_queue_webhook_secret'
  order by s.updated_at desc
  limit 1
$$;

-- Store the secret in Vault (create or update), drop any plain-text copy; true when something changed.
create or replace function jobqueue_private.store_webhook_secret(secret text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  existing record;
  changed boolean := false;
begin
  select s.id, s.decrypted_secret into existing from vault.decrypted_secrets s
  where s.name = 'test_queue_webhook_secret' order by s.updated_at desc limit 1;
  if existing.id is null then
    perform vault.create_secret(secret, 'test_queue_webhook_secret', 'Standard Webhooks secret of test_queue');
    changed := true;
  elsif existing.decrypted_secret is distinct from secret then
    perform vault.update_secret(existing.id, secret);
    changed := true;
  end if;
  delete from jobqueue_private.settings s where s.key = 'webhook_secret';
  return changed or found;
end
$$;

-- A tunable setting (the webhook secret is not one: read it with webhook_secret()).
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
revoke all on function jobqueue_private.webhook_secret(), jobqueue_private.store_webhook_secret(text)
  from service_role;
