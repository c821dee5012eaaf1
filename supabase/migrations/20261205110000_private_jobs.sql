-- Private jobs: a job belongs to the user who submitted it. Until now the read policy on job_results was open,
-- submit_job took the public anon key alone and its rate limit keyed on an address the client chooses
-- (x-forwarded-for). From here:
--   * submit_job needs a signed-in user (an anonymous sign-in counts) and refuses the bare anon key;
--     the service role and database sessions (worker, operator, tests) still submit, their jobs have no user;
--   * a user reads (REST and postgres_changes alike) and cancels only their own jobs; anon reads none; jobs
--     without a user, old ones included, are seen by the service role only;
--   * idempotency keys and the rate limit are per user;
--   * each change of a user's job is broadcast from the database to the private topic jobs:<user id>, which
--     only that user may receive;
--   * job_stats stays readable by everyone, as aggregates only.

-- Whose job. Added without a default first, so existing rows keep null (visible to the service role only),
-- then the default is set for new rows. Deleting a user deletes their jobs (on delete cascade): the payloads
-- and results are that user's data, anonymous users are meant to be cleaned up, and `set null` would move
-- their jobs, keys included, into the operator's namespace. A queued message whose row is gone is dropped by
-- the worker and the sweeper as for any job removed by cleanup_old_jobs.
alter table public.job_results add column if not exists user_id uuid;
alter table public.job_results alter column user_id set default auth.uid();
do $$
begin
  if not exists (select from pg_constraint where conname = 'job_results_user_id_fkey'
                                              and conrelid = 'public.job_results'::regclass) then
    alter table public.job_results add constraint job_results_user_id_fkey
      foreign key (user_id) references auth.users (id) on delete cascade;
  end if;
end
$$;
-- What the read policy and the live table filter on, newest first; it also serves the cascade.
create index if not exists job_results_user_id_created_at_idx on public.job_results (user_id, created_at desc);

-- The role of the caller: the request's JWT role when a request set one, else the role a session switched to
-- (`set role anon`; it holds inside security definer functions too), else the session's own login (postgres, the
-- worker's connection).
create or replace function jobqueue_private.api_role()
returns text
language sql
stable
set search_path = ''
as $$
  select coalesce(nullif(auth.role(), ''), nullif(nullif(current_setting('role', true), ''), 'none'), session_user)
$$;

-- The user a submit is made for: the signed-in user; null for the service role and database sessions; a
-- refusal for the API roles without a user (the anon key alone, or a token without a subject).
create or replace function jobqueue_private.submitting_user()
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
begin
  if caller is null and jobqueue_private.api_role() in ('anon', 'authenticated') then
    raise exception 'submit_job needs a signed-in user: the anon key alone cannot submit jobs'
      using errcode = '42501',
            hint = 'sign in first (an anonymous sign-in counts: supabase.auth.sign_in_anonymously()) and call '
                   'submit_job with the session''s access token; nothing was queued';
  end if;
  return caller;
end
$$;

-- Submits per user and minute. A user is who the access token names, which a client cannot choose as it can an
-- x-forwarded-for header. The service role and database sessions (no user) are not limited. Refused submits do
-- not count: the refusal rolls the count back. Past minutes are forgotten by the sweeper.
create or replace function jobqueue_private.check_client_rate()
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  per_minute integer;
  used integer;
begin
  if caller is null then
    return;
  end if;
  per_minute := coalesce(jobqueue_private.setting('max_submits_per_client_per_minute')::integer, 600);
  insert into jobqueue_private.submit_rate as r (client, window_start)
  values (caller::text, date_trunc('minute', clock_timestamp()))
  on conflict (client, window_start) do update set submits = r.submits + 1
  returning r.submits into used;
  if used > per_minute then
    raise exception 'too many jobs from user %: the limit is % a minute', caller, per_minute
      using errcode = 'PT429', hint = 'retry in a minute; nothing was queued';
  end if;
end
$$;

-- Idempotency keys are per user: two users may use one key; the service role's jobs (no user) share one
-- namespace, hence `nulls not distinct`.
drop index if exists public.job_results_idempotency_key_idx;
create unique index if not exists job_results_user_idempotency_key_idx
  on public.job_results (user_id, job_type, idempotency_key) nulls not distinct
  where idempotency_key is not null and status in ('pending', 'processing', 'completed');

create or replace function public.submit_job(
  task_name text,
  job_type text default 'echo',
  payload jsonb default '{}',
  priority integer default null,
  delay_seconds integer default 0,
  max_attempts integer default null,
  timeout_seconds integer default null,
  idempotency_key text default null)
returns public.job_results
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_variable
declare
  owner uuid := jobqueue_private.submitting_user();
  clean_name text := jobqueue_private.checked_text('task_name', coalesce(task_name, ''));
  kind public.job_types;
  body jsonb := coalesce(payload, '{}');
  key text;
  waiting_limit integer := coalesce(jobqueue_private.setting('max_waiting_jobs')::integer, 10000);
  chosen_priority integer;
  new_job_id uuid := gen_random_uuid();
  new_msg_id bigint;
  visible_at timestamptz;
  job public.job_results;
begin
  select * into kind from public.job_types t where t.name = coalesce(job_type, 'echo');
  if not found then
    perform jobqueue_private.refuse('job_type', format('job_type %s is not a known job type (known: %s)',
      coalesce(quote_literal(job_type), 'null'),
      (select string_agg(t.name, ', ' order by t.name) from public.job_types t)));
  end if;
  if jsonb_typeof(body) <> 'object' then
    perform jobqueue_private.refuse('payload', format('payload must be a JSON object, got %s', jsonb_typeof(body)));
  end if;
  if octet_length(body::text) > 65536 then
    perform jobqueue_private.refuse('payload', format('payload is %s bytes; the limit is 65536',
                                                      octet_length(body::text)));
  end if;
  -- pg_jsonschema's verdict; its list of problems only when there are some.
  if not extensions.jsonb_matches_schema(kind.payload_schema::json, body) then
    perform jobqueue_private.refuse('payload', format('payload does not fit job type %s: %s', kind.name,
      array_to_string(extensions.jsonschema_validation_errors(kind.payload_schema::json, body::json), '; ')));
  end if;
  chosen_priority := jobqueue_private.checked_range('priority', coalesce(priority, kind.priority), -100, 100);
  perform jobqueue_private.checked_range('delay_seconds', delay_seconds, 0, 2592000);
  perform jobqueue_private.checked_range('max_attempts', max_attempts, 1, 25);
  perform jobqueue_private.checked_range('timeout_seconds', timeout_seconds, 1, 86400);
  if idempotency_key is not null then
    key := jobqueue_private.checked_text('idempotency_key', idempotency_key);
    -- Concurrent submits with one key queue one job: the second waits here until the first commits.
    perform pg_advisory_xact_lock(hashtextextended(
      'test_queue.idempotency:' || coalesce(owner::text, '') || ':' || kind.name || ':' || key, 0));
    select * into job from public.job_results r
    where r.user_id is not distinct from owner and r.job_type = kind.name and r.idempotency_key = key
      and r.status in ('pending', 'processing', 'completed');
    if found then
      return job;
    end if;
  end if;
  perform jobqueue_private.check_client_rate();
  -- Backpressure: the queue has a bound. The span of waiting msg_ids (two index probes) bounds their number from
  -- above; only when it reaches the bound are they counted, up to the bound.
  if (select coalesce(max(q.msg_id) - min(q.msg_id) + 1, 0) from pgmq.q_work_queue q) >= waiting_limit
     and (select count(*) from (select from pgmq.q_work_queue limit waiting_limit) as waiting) >= waiting_limit then
    raise exception 'the queue is full: % jobs are waiting', waiting_limit
      using errcode = 'PT429', hint = 'retry later, when the worker has caught up; nothing was queued';
  end if;

  select * into new_msg_id from pgmq.send('work_queue',
    jsonb_build_object('job_id', new_job_id, 'task_name', clean_name, 'job_type', kind.name,
                       'priority', chosen_priority),
    coalesce(delay_seconds, 0));
  if coalesce(delay_seconds, 0) > 0 then
    select q.vt into visible_at from pgmq.q_work_queue q where q.msg_id = new_msg_id;
  end if;

  insert into public.job_results (job_id, task_name, status, msg_id, job_type, payload, priority, run_after,
                                  max_attempts, timeout_seconds, idempotency_key, user_id)
  values (new_job_id, clean_name, 'pending', new_msg_id, kind.name, body, chosen_priority, visible_at,
          coalesce(max_attempts, kind.max_attempts), coalesce(timeout_seconds, kind.timeout_seconds), key, owner)
  returning * into job;
  return job;
end
$$;

-- The stop button: the operator (service role) cancels any job, a signed-in user only their own; to a user,
-- another user's job does not exist. A pending job ends cancelled at once and its message leaves the queue; a
-- running job is marked (cancelled_at) and its worker stops it. A finished job is returned as it is.
create or replace function public.cancel_job(job_id uuid)
returns public.job_results
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.job_results;
  own_only boolean := jobqueue_private.api_role() in ('anon', 'authenticated');
begin
  select * into job from public.job_results r
  where r.job_id = cancel_job.job_id and (not own_only or r.user_id = auth.uid())
  for update;
  if not found then
    raise exception 'no job has job_id %', coalesce(cancel_job.job_id::text, 'null')
      using errcode = '22023', detail = 'argument: job_id';
  end if;
  if job.status = 'pending' then
    select * into job from jobqueue_private.finish_cancelled(job);
  elsif job.status = 'processing' and job.cancelled_at is null then
    update public.job_results r set cancelled_at = now() where r.job_id = cancel_job.job_id returning * into job;
  end if;
  return job;
end
$$;
revoke all on function public.cancel_job(uuid) from public, anon;
grant execute on function public.cancel_job(uuid) to authenticated, service_role;

-- Reading: a signed-in user sees their own jobs; anon keeps its grant but no policy, so it reads none; the
-- service role bypasses RLS and sees all. postgres_changes applies the same policy to every subscriber.
drop policy if exists job_results_read on public.job_results;
drop policy if exists job_results_read_own on public.job_results;
create policy job_results_read_own on public.job_results for select to authenticated
  using (user_id = (select auth.uid()));

-- The stats read job_results as the view's owner, so everyone sees the counts of all jobs and no row.
alter view public.job_stats set (security_invoker = false);

-- Broadcast from the database: each change of a user's job goes to the private topic jobs:<user id>, shaped as
-- realtime.broadcast_changes shapes it (event = the operation). Jobs without a user are not broadcast; the
-- operator watches every job through postgres_changes with the service role. The function runs as its owner,
-- who may write realtime.messages; a failed broadcast is a warning and never fails the job's write.
create or replace function jobqueue_private.broadcast_job_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform realtime.broadcast_changes('jobs:' || coalesce(new.user_id, old.user_id)::text, tg_op, tg_op,
                                     tg_table_name, tg_table_schema, new, old);
  return null;
end
$$;
revoke all on function jobqueue_private.broadcast_job_change() from public, anon, authenticated;

create or replace trigger job_results_broadcast
after insert or update on public.job_results
for each row when (new.user_id is not null) execute function jobqueue_private.broadcast_job_change();
create or replace trigger job_results_broadcast_delete
after delete on public.job_results
for each row when (old.user_id is not null) execute function jobqueue_private.broadcast_job_change();

-- Private channels are authorised by RLS on realtime.messages (Realtime probes a select as the subscriber, with
-- realtime.topic() set to the channel's topic): a signed-in user may receive on jobs:<their user id> only. No
-- insert policy: nobody sends on these topics but the trigger above.
drop policy if exists job_topics_read_own on realtime.messages;
create policy job_topics_read_own on realtime.messages for select to authenticated
  using (realtime.messages.extension = 'broadcast'
         and (select realtime.topic()) = 'jobs:' || (select auth.uid())::text);

revoke all on all functions in schema jobqueue_private from public, anon, authenticated;
