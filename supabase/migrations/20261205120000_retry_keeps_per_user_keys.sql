-- Idempotency keys are per user (20261205110000_private_jobs), but retry_failed_jobs() still dropped a retried
-- job's key when any user's live job held the same key. It now looks only at the same user's jobs (the operator's
-- jobs, without a user, are one owner), as the unique index job_results_user_idempotency_key_idx does.
create or replace function public.retry_failed_jobs(job_type text default null, since timestamptz default null,
                                                    job_ids uuid[] default null)
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
  if retry_failed_jobs.job_type is not null
     and not exists (select from public.job_types t where t.name = retry_failed_jobs.job_type) then
    perform jobqueue_private.refuse('job_type', format('job_type %s is not a known job type (known: %s)',
      quote_literal(retry_failed_jobs.job_type),
      (select string_agg(t.name, ', ' order by t.name) from public.job_types t)));
  end if;
  for letter in
    select l.msg_id, (l.message ->> 'job_id')::uuid as job_id
    from pgmq.q_work_queue_dlq l
    left join public.job_results r on r.job_id = (l.message ->> 'job_id')::uuid
    where (retry_failed_jobs.job_type is null
           or coalesce(r.job_type, l.message ->> 'job_type') = retry_failed_jobs.job_type)
      and (retry_failed_jobs.since is null or coalesce(r.completed_at, l.enqueued_at) >= retry_failed_jobs.since)
      and (retry_failed_jobs.job_ids is null or (l.message ->> 'job_id')::uuid = any(retry_failed_jobs.job_ids))
    order by l.msg_id
    for update of l skip locked
  loop
    select * into job from public.job_results r where r.job_id = letter.job_id for update;
    if found and job.status = 'failed' then
      select * into new_msg_id from pgmq.send('work_queue', jobqueue_private.job_message(job));
      update public.job_results r
      set status = 'pending', attempts = 0, error = null, result = null, output = null, progress = 0,
          progress_message = null, started_at = null, completed_at = null, msg_id = new_msg_id,
          idempotency_key = case when exists (
            select from public.job_results other
            where other.user_id is not distinct from r.user_id and other.job_type = r.job_type
              and other.idempotency_key = r.idempotency_key
              and other.status in ('pending', 'processing', 'completed')) then null else r.idempotency_key end
      where r.job_id = job.job_id;
      retried := retried + 1;
    end if;
    perform pgmq.archive('work_queue_dlq', letter.msg_id);
  end loop;
  return retried;
end
$$;
