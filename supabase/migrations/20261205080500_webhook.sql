-- The webhook: every message put on work_queue is POSTed to the worker through pg_net, signed the way
-- Standard Webhooks are (https://www.standardwebhooks.com): webhook-id, webhook-timestamp and
-- webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>", computed by pgcrypto's hmac().

-- How far ahead of its start time a delayed (or backed-off) message is sent: the worker holds it and claims it
-- when it comes due, so it starts on time although the sweeper runs only every 10 seconds.
insert into jobqueue_private.settings (key, value) values ('deliver_ahead_seconds', '15') on conflict (key) do nothing;

create or replace function jobqueue_private.deliver_ahead()
returns interval
language sql
stable
set search_path = ''
as $$
  select make_interval(secs => coalesce(jobqueue_private.setting('deliver_ahead_seconds')::integer, 15))
$$;

-- Send one message to the worker and log the delivery; both the insert trigger and the sweeper call it. The
-- body names the job and, for a message not yet visible, the time it may be claimed (run_after).
-- Returns the pg_net request id, or null when no worker URL is configured (then only pull mode serves).
-- Which visibility window a delivery was for: a message whose vt moved since (a lease, a retry's back-off) is
-- due a new delivery when that window opens; one delivered for its current window is not sent again early.
alter table jobqueue_private.deliveries add column if not exists visible_at timestamptz;

drop function if exists jobqueue_private.deliver(bigint, jsonb);
create or replace function jobqueue_private.deliver(msg_id bigint, message jsonb, visible_at timestamptz)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  worker_url text := jobqueue_private.setting('worker_url');
  secret text := jobqueue_private.webhook_secret();
  body jsonb := jsonb_build_object('msg_id', msg_id, 'job_id', message -> 'job_id',
                                   'task_name', message -> 'task_name',
                                   'job_type', coalesce(message -> 'job_type', '"echo"'),
                                   'priority', coalesce(message -> 'priority', '0'))
                || case when visible_at > clock_timestamp() then jsonb_build_object('run_after', visible_at)
                        else '{}' end;
  webhook_id text := format('msg_%s_%s', msg_id, replace(gen_random_uuid()::text, '-', ''));
  webhook_timestamp text := floor(extract(epoch from clock_timestamp()))::bigint::text;
  signature text;
  request_id bigint;
begin
  if worker_url is null or secret is null then
    return null;
  end if;
  signature := 'v1,' || encode(extensions.hmac(
    convert_to(webhook_id || '.' || webhook_timestamp || '.' || body::text, 'UTF8'),
    decode(substr(secret, length('whsec_') + 1), 'base64'), 'sha256'), 'base64');
  request_id := net.http_post(
    url => worker_url,
    body => body,
    headers => jsonb_build_object('Content-Type', 'application/json', 'webhook-id', webhook_id,
                                  'webhook-timestamp', webhook_timestamp, 'webhook-signature', signature),
    timeout_milliseconds => coalesce(jobqueue_private.setting('webhook_timeout_ms')::integer, 5000));
  insert into jobqueue_private.deliveries as d (msg_id, job_id, last_delivered_at, last_request_id, visible_at)
  values (deliver.msg_id, (message ->> 'job_id')::uuid, clock_timestamp(), request_id, deliver.visible_at)
  on conflict on constraint deliveries_pkey do update
    set deliveries = d.deliveries + 1, last_delivered_at = excluded.last_delivered_at,
        last_request_id = excluded.last_request_id, visible_at = excluded.visible_at;
  return request_id;
end
$$;

-- A message sent with a delay longer than deliver_ahead is not delivered now: the sweeper sends it when it is
-- about to come due.
create or replace function jobqueue_private.on_work_queue_insert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.vt <= clock_timestamp() + jobqueue_private.deliver_ahead() then
    perform jobqueue_private.deliver(new.msg_id, new.message, new.vt);
  end if;
  return null;
end
$$;

revoke all on all functions in schema jobqueue_private from public, anon, authenticated;

create or replace trigger work_queue_webhook
after insert on pgmq.q_work_queue
for each row execute function jobqueue_private.on_work_queue_insert();
