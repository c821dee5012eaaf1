-- What the worker calls (as service_role, through the REST API): each call is one transaction, locks the
-- job row first and the message second, and is safe to repeat. A message's visibility timeout (vt) is the
-- lease: while it lies in the future, no other delivery may claim the job.

-- The job's row, locked, when it exists and is not finished; null otherwise (nothing left to do).
create or replace function jobqueue_private.lock_unfinished_job(job_id uuid)
returns public.job_results
language sql
set search_path = ''
as $$
  select * from public.job_results r
  where r.job_id = lock_unfinished_job.job_id and r.status not in ('completed', 'failed', 'cancelled')
  for update
$$;

-- The message a job needs in work_queue: its identity, type and priority (the sweeper and pull mode order by it).
create or replace function jobqueue_private.job_message(job public.job_results)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object('job_id', job.job_id, 'task_name', job.task_name, 'job_type', job.job_type,
                            'priority', job.priority)
$$;

-- The job's attempt limit: its own, else the worker's (when it says), else the project's MAX_ATTEMPTS.
create or replace function jobqueue_private.attempt_limit(job public.job_results, worker_limit integer)
returns integer
language sql
stable
set search_path = ''
as $$
  select coalesce(job.max_attempts, worker_limit, jobqueue_private.max_attempts())
$$;

-- Move a job to the dead-letter queue and mark it failed (called with the job row locked).
create or replace function jobqueue_private.dead_letter(job public.job_results, reason text)
returns setof public.job_results
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pgmq.send('work_queue_dlq', jobqueue_private.job_message(job) || jsonb_build_object(
    'error', reason, 'attempts', job.attempts, 'msg_id', job.msg_id));
  if job.msg_id is not null then
    perform pgmq.delete('work_queue', job.msg_id);
    delete from jobqueue_private.deliveries d where d.msg_id = job.msg_id;
  end if;
  return query
    update public.job_results r
    set status = 'failed', error = reason, completed_at = now()
    where r.job_id = job.job_id
    returning r.*;
end
$$;

-- End a job as cancelled (called with the job row locked): its message leaves the queue for the archive.
create or replace function jobqueue_private.finish_cancelled(job public.job_results)
returns setof public.job_results
language plpgsql
security definer
set search_path = ''
as $$
begin
  if job.msg_id is not null then
    perform pgmq.archive('work_queue', job.msg_id);
    delete from jobqueue_private.deliveries d where d.msg_id = job.msg_id;
  end if;
  return query
    update public.job_results r
    set status = 'cancelled', cancelled_at = coalesce(r.cancelled_at, now()), completed_at = now()
    where r.job_id = job.job_id
    returning r.*;
end
$$;

create or replace function public.mark_job_processing(job_id uuid, msg_id bigint, lease_seconds integer default 60)
returns setof public.job_results
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.job_results;
begin
  job := jobqueue_private.lock_unfinished_job(mark_job_processing.job_id);
  if job.id is null then
    return;
  end if;
  if job.cancelled_at is not null then
    perform jobqueue_private.finish_cancelled(job);
    return;
  end if;
  -- Only columns every pgmq release has (msg_id, read_ct, enqueued_at, vt, message) are touched.
  update pgmq.q_work_queue q
  set vt = clock_timestamp() + make_interval(secs => greatest(lease_seconds, 1)), read_ct = q.read_ct + 1
  where q.msg_id = mark_job_processing.msg_id
    and q.vt <= clock_timestamp()
    and q.message ->> 'job_id' = mark_job_processing.job_id::text;
  if not found then
    return;
  end if;
  return query
    update public.job_results r
    set status = 'processing', attempts = r.attempts + 1, started_at = now(), progress = 0,
        progress_message = null, msg_id = mark_job_processing.msg_id
    where r.job_id = mark_job_processing.job_id
    returning r.*;
end
$$;

create or replace function public.extend_job_lease(job_id uuid, lease_seconds integer)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform 1 from public.job_results r where r.job_id = extend_job_lease.job_id for update;
  update pgmq.q_work_queue q
  set vt = clock_timestamp() + make_interval(secs => greatest(lease_seconds, 1))
  from public.job_results r
  where r.job_id = extend_job_lease.job_id and r.status = 'processing' and q.msg_id = r.msg_id;
  return found;
end
$$;

drop function if exists public.mark_job_failed(uuid, text, integer, integer);
create or replace function public.mark_job_failed(job_id uuid, error text, retry_in_seconds integer default 0,
                                                  max_attempts integer default null, permanent boolean default false)
returns setof public.job_results
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.job_results;
  delay integer := greatest(coalesce(retry_in_seconds, 0), 0);
  new_msg_id bigint;
  message record;
begin
  job := jobqueue_private.lock_unfinished_job(mark_job_failed.job_id);
  if job.id is null then
    return;
  end if;
  if job.cancelled_at is not null then
    return query select * from jobqueue_private.finish_cancelled(job);
    return;
  end if;
  if permanent or job.attempts >= jobqueue_private.attempt_limit(job, mark_job_failed.max_attempts) then
    return query select * from jobqueue_private.dead_letter(job, mark_job_failed.error);
    return;
  end if;
  -- Retry: the same message becomes visible again after the back-off. Should the message be gone, a new one
  -- takes its place, so the job cannot be lost. A short back-off is delivered now, for the worker to hold
  -- until the message is visible, so the retry starts on time.
  select * into message from pgmq.set_vt('work_queue', job.msg_id, delay);
  if not found then
    select * into new_msg_id from pgmq.send('work_queue', jobqueue_private.job_message(job), delay);
    select * into message from pgmq.q_work_queue q where q.msg_id = new_msg_id;
  end if;
  if make_interval(secs => delay) <= jobqueue_private.deliver_ahead() then
    perform jobqueue_private.deliver(message.msg_id, message.message, message.vt);
  end if;
  return query
    update public.job_results r
    set status = 'pending', error = mark_job_failed.error, msg_id = message.msg_id
    where r.job_id = mark_job_failed.job_id
    returning r.*;
end
$$;

-- Batches, for a busy worker: one call (one transaction, one round trip) claims and completes many jobs. Each
-- item is handled exactly as the one-job function does; rows are locked in job_id order, so two workers'
-- overlapping batches cannot deadlock. Items are [{"job_id", "msg_id"}] and [{"job_id", "result", "output"}].
create or replace function jobqueue_private.batch_items(items jsonb, argument text)
returns setof jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
  if jsonb_typeof(items) is distinct from 'array' then
    perform jobqueue_private.refuse(argument, format('%s must be a JSON array of objects', argument));
  elsif jsonb_array_length(items) > 500 then
    perform jobqueue_private.refuse(argument, format('%s holds %s items; the limit is 500', argument,
                                                     jsonb_array_length(items)));
  end if;
  return query select e from jsonb_array_elements(items) as e order by e ->> 'job_id';
end
$$;

-- The superseded pair of batch calls: a flush now claims and completes in one call.
drop function if exists public.mark_jobs_processing(jsonb, integer);
drop function if exists public.mark_jobs_completed(jsonb);

-- One flush of a worker: claims (as mark_job_processing) and completions (as mark_job_completed) in one
-- transaction. Rows are locked in job_id order across both lists; the completed jobs' messages are archived by
-- one pgmq.archive call at the end, since each call plans its statement anew.
create or replace function public.mark_jobs(claims jsonb default '[]', completions jsonb default '[]',
                                            lease_seconds integer default 60)
returns setof public.job_results
language plpgsql
security definer
set search_path = ''
as $$
declare
  item record;
  job public.job_results;
  archived bigint[] := '{}';
begin
  for item in
    select * from (select 'claim' as kind, e from jobqueue_private.batch_items(claims, 'claims') as e
                   union all
                   select 'completion', e from jobqueue_private.batch_items(completions, 'completions') as e)
      as items (kind, e)
    order by e ->> 'job_id', kind
  loop
    if item.kind = 'claim' then
      return query select * from public.mark_job_processing((item.e ->> 'job_id')::uuid,
                                                            (item.e ->> 'msg_id')::bigint, mark_jobs.lease_seconds);
      continue;
    end if;
    job := jobqueue_private.lock_unfinished_job((item.e ->> 'job_id')::uuid);
    continue when job.id is null;
    -- A job the operator cancelled ends cancelled even when its task got to the end first.
    if job.cancelled_at is not null then
      return query select * from jobqueue_private.finish_cancelled(job);
      continue;
    end if;
    if job.msg_id is not null then
      archived := archived || job.msg_id;
    end if;
    return query
      update public.job_results r
      set status = 'completed', result = item.e ->> 'result', output = nullif(item.e -> 'output', 'null'),
          error = null, progress = 100, completed_at = now()
      where r.job_id = job.job_id
      returning r.*;
  end loop;
  if cardinality(archived) > 0 then
    perform pgmq.archive('work_queue', archived);
    delete from jobqueue_private.deliveries d where d.msg_id = any(archived);
  end if;
end
$$;

-- One job's completion: a flush of one.
drop function if exists public.mark_job_completed(uuid, text);
create or replace function public.mark_job_completed(job_id uuid, result text, output jsonb default null)
returns setof public.job_results
language sql
security definer
set search_path = ''
as $$
  select * from public.mark_jobs(completions => jsonb_build_array(jsonb_build_object(
    'job_id', mark_job_completed.job_id, 'result', mark_job_completed.result, 'output', mark_job_completed.output)))
$$;

-- The operator's stop button. A pending job ends cancelled at once and its message leaves the queue; a running
-- job is marked (cancelled_at) and its worker, which asks about its running jobs every half second, stops the
-- task and ends it cancelled. A finished job is returned as it is.
create or replace function public.cancel_job(job_id uuid)
returns public.job_results
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.job_results;
begin
  select * into job from public.job_results r where r.job_id = cancel_job.job_id for update;
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

-- Which of a worker's running jobs the operator cancelled: one call covers all of them.
create or replace function public.job_cancel_requests(job_ids uuid[])
returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(array_agg(r.job_id), '{}') from public.job_results r
  where r.job_id = any(job_cancel_requests.job_ids) and r.status = 'processing' and r.cancelled_at is not null
$$;

-- The worker's answer to a cancel request: the task is stopped, the job ends cancelled.
create or replace function public.mark_job_cancelled(job_id uuid)
returns setof public.job_results
language plpgsql
security definer
set search_path = ''
as $$
declare
  job public.job_results;
begin
  job := jobqueue_private.lock_unfinished_job(mark_job_cancelled.job_id);
  if job.id is null or job.cancelled_at is null then
    return;
  end if;
  return query select * from jobqueue_private.finish_cancelled(job);
end
$$;

-- A running task's progress (0-100) and a short message. The worker sends a few per second per job at most
-- and always the last one; an unchanged value writes nothing, so Realtime carries only real changes.
create or replace function public.report_job_progress(job_id uuid, progress integer, message text default null)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform jobqueue_private.checked_range('progress', coalesce(report_job_progress.progress, -1), 0, 100);
  if char_length(report_job_progress.message) > 500 then
    perform jobqueue_private.refuse('message', format('message is %s characters long; the limit is 500',
                                                      char_length(report_job_progress.message)));
  end if;
  update public.job_results r
  set progress = report_job_progress.progress, progress_message = report_job_progress.message
  where r.job_id = report_job_progress.job_id and r.status = 'processing'
    and (r.progress, r.progress_message) is distinct from (report_job_progress.progress, report_job_progress.message);
  return found or exists (select from public.job_results r
                          where r.job_id = report_job_progress.job_id and r.status = 'processing');
end
$$;

-- Pull mode, for a worker the database cannot reach: claim the visible message of highest priority (oldest first
-- among equals).
create or replace function public.get_next_job(lease_seconds integer default 60)
returns setof public.job_results
language plpgsql
security definer
set search_path = ''
as $$
declare
  candidate record;
begin
  for candidate in
    select q.msg_id, (q.message ->> 'job_id')::uuid as job_id
    from pgmq.q_work_queue q
    where q.vt <= clock_timestamp()
    order by coalesce((q.message ->> 'priority')::integer, 0) desc, q.msg_id
    limit 10
  loop
    return query select * from public.mark_job_processing(candidate.job_id, candidate.msg_id, lease_seconds);
    if found then
      return;
    end if;
  end loop;
end
$$;

-- Dead letters back onto work_queue as fresh jobs: status pending, attempts reset, a new message. Should another
-- live job have taken the idempotency key meanwhile, the revived job gives its key up.
create or replace function public.retry_failed_jobs()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  letter record;
  job public.job_results;
  new_msg_id bigint;
  retried integer := 0;
begin
  for letter in select l.msg_id, l.message from pgmq.q_work_queue_dlq l order by l.msg_id for update skip locked loop
    select * into job from public.job_results r
    where r.job_id = (letter.message ->> 'job_id')::uuid for update;
    if found and job.status = 'failed' then
      select * into new_msg_id from pgmq.send('work_queue', jobqueue_private.job_message(job));
      update public.job_results r
      set status = 'pending', attempts = 0, error = null, result = null, output = null, progress = 0,
          progress_message = null, started_at = null, completed_at = null, msg_id = new_msg_id,
          idempotency_key = case when exists (
            select from public.job_results other
            where other.job_type = r.job_type and other.idempotency_key = r.idempotency_key
              and other.status in ('pending', 'processing', 'completed')) then null else r.idempotency_key end
      where r.job_id = job.job_id;
      retried := retried + 1;
    end if;
    perform pgmq.archive('work_queue_dlq', letter.msg_id);
  end loop;
  return retried;
end
$$;

-- Forget finished jobs older than keep_days, with their archived messages and dead letters.
create or replace function public.cleanup_old_jobs(keep_days integer)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  cutoff timestamptz;
  removed integer;
begin
  if keep_days is null or keep_days < 0 then
    raise exception 'keep_days must be zero or more, not %', coalesce(keep_days::text, 'null')
      using errcode = '22023';
  end if;
  cutoff := now() - make_interval(days => keep_days);
  with gone as (
    delete from public.job_results r
    where r.status in ('completed', 'failed', 'cancelled') and coalesce(r.completed_at, r.updated_at) < cutoff
    returning r.job_id
  ), letters as (
    delete from pgmq.q_work_queue_dlq l using gone where (l.message ->> 'job_id')::uuid = gone.job_id
    returning l.msg_id
  )
  select count(*) into removed from gone;
  delete from pgmq.a_work_queue a where a.archived_at < cutoff;
  delete from pgmq.a_work_queue_dlq a where a.archived_at < cutoff;
  return removed;
end
$$;

-- Only the worker and the operator (service_role) may call these.
do $$
declare
  signature text;
begin
  foreach signature in array array[
    'public.mark_job_processing(uuid, bigint, integer)', 'public.extend_job_lease(uuid, integer)',
    'public.mark_jobs(jsonb, jsonb, integer)',
    'public.mark_job_completed(uuid, text, jsonb)', 'public.mark_job_failed(uuid, text, integer, integer, boolean)',
    'public.cancel_job(uuid)', 'public.job_cancel_requests(uuid[])', 'public.mark_job_cancelled(uuid)',
    'public.report_job_progress(uuid, integer, text)', 'public.get_next_job(integer)',
    'public.retry_failed_jobs()', 'public.cleanup_old_jobs(integer)'] loop
    execute format('revoke all on function %s from public, anon, authenticated', signature);
    execute format('grant execute on function %s to service_role', signature);
  end loop;
end
$$;
revoke all on all functions in schema jobqueue_private from public, anon, authenticated;
