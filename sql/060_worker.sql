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
  where r.job_id = lock_unfinished_job.job_id and r.status not in ('completed', 'failed')
  for update
$$;

-- Move a job to the dead-letter queue and mark it failed (called with the job row locked).
create or replace function jobqueue_private.dead_letter(job public.job_results, reason text)
returns setof public.job_results
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pgmq.send('work_queue_dlq', jsonb_build_object(
    'job_id', job.job_id, 'task_name', job.task_name, 'error', reason,
    'attempts', job.attempts, 'msg_id', job.msg_id));
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
  update pgmq.q_work_queue q
  set vt = clock_timestamp() + make_interval(secs => greatest(lease_seconds, 1)),
      read_ct = q.read_ct + 1, last_read_at = clock_timestamp()
  where q.msg_id = mark_job_processing.msg_id
    and q.vt <= clock_timestamp()
    and q.message ->> 'job_id' = mark_job_processing.job_id::text;
  if not found then
    return;
  end if;
  return query
    update public.job_results r
    set status = 'processing', attempts = r.attempts + 1, started_at = now(),
        msg_id = mark_job_processing.msg_id
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

create or replace function public.mark_job_completed(job_id uuid, result text)
returns setof public.job_results
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.job_results;
begin
  job := jobqueue_private.lock_unfinished_job(mark_job_completed.job_id);
  if job.id is null then
    return;
  end if;
  if job.msg_id is not null then
    perform pgmq.archive('work_queue', job.msg_id);
    delete from jobqueue_private.deliveries d where d.msg_id = job.msg_id;
  end if;
  return query
    update public.job_results r
    set status = 'completed', result = mark_job_completed.result, error = null, completed_at = now()
    where r.job_id = mark_job_completed.job_id
    returning r.*;
end
$$;

create or replace function public.mark_job_failed(job_id uuid, error text, retry_in_seconds integer default 0,
                                                  max_attempts integer default null)
returns setof public.job_results
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.job_results;
  attempt_limit integer := coalesce(mark_job_failed.max_attempts, jobqueue_private.max_attempts());
  delay integer := greatest(coalesce(retry_in_seconds, 0), 0);
  new_msg_id bigint;
begin
  job := jobqueue_private.lock_unfinished_job(mark_job_failed.job_id);
  if job.id is null then
    return;
  end if;
  if job.attempts >= attempt_limit then
    return query select * from jobqueue_private.dead_letter(job, mark_job_failed.error);
    return;
  end if;
  -- Retry: the same message becomes visible again after the backoff and is delivered again then.
  -- Should the message be gone, a new one takes its place, so the job cannot be lost.
  perform 1 from pgmq.set_vt('work_queue', job.msg_id, delay);
  if not found then
    select * into new_msg_id from pgmq.send('work_queue',
      jsonb_build_object('job_id', job.job_id, 'task_name', job.task_name), delay);
  end if;
  return query
    update public.job_results r
    set status = 'pending', error = mark_job_failed.error, msg_id = coalesce(new_msg_id, r.msg_id)
    where r.job_id = mark_job_failed.job_id
    returning r.*;
end
$$;

-- Pull mode, for a worker the database cannot reach: claim the oldest visible message.
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
    order by q.msg_id
    limit 10
  loop
    return query select * from public.mark_job_processing(candidate.job_id, candidate.msg_id, lease_seconds);
    if found then
      return;
    end if;
  end loop;
end
$$;

-- Dead letters back onto work_queue as fresh jobs: status pending, attempts reset, a new message.
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
      select * into new_msg_id from pgmq.send('work_queue',
        jsonb_build_object('job_id', job.job_id, 'task_name', job.task_name));
      update public.job_results r
      set status = 'pending', attempts = 0, error = null, result = null, started_at = null,
          completed_at = null, msg_id = new_msg_id
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
    where r.status in ('completed', 'failed') and coalesce(r.completed_at, r.updated_at) < cutoff
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

revoke all on function public.mark_job_processing(uuid, bigint, integer) from public, anon, authenticated;
revoke all on function public.extend_job_lease(uuid, integer) from public, anon, authenticated;
revoke all on function public.mark_job_completed(uuid, text) from public, anon, authenticated;
revoke all on function public.mark_job_failed(uuid, text, integer, integer) from public, anon, authenticated;
revoke all on function public.get_next_job(integer) from public, anon, authenticated;
revoke all on function public.retry_failed_jobs() from public, anon, authenticated;
revoke all on function public.cleanup_old_jobs(integer) from public, anon, authenticated;
grant execute on function public.mark_job_processing(uuid, bigint, integer) to service_role;
grant execute on function public.extend_job_lease(uuid, integer) to service_role;
grant execute on function public.mark_job_completed(uuid, text) to service_role;
grant execute on function public.mark_job_failed(uuid, text, integer, integer) to service_role;
grant execute on function public.get_next_job(integer) to service_role;
grant execute on function public.retry_failed_jobs() to service_role;
grant execute on function public.cleanup_old_jobs(integer) to service_role;
revoke all on all functions in schema jobqueue_private from public, anon, authenticated;
