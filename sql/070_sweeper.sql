-- The sweeper makes delivery at least once: a lost webhook request or a dead worker delays a job but never
-- loses it. Every 10 seconds it looks at the visible messages of work_queue and
--   * re-delivers one that became visible again since its last delivery (lease expired, retry backoff over)
--     or that no worker claimed within redeliver_after_seconds of being sent;
--   * dead-letters one whose job has used all its attempts (its last lease expired without a result);
--   * archives one whose job is finished or gone (nothing left to do).
create or replace function public.sweep_work_queue()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  quiet_period interval := make_interval(
    secs => coalesce(jobqueue_private.setting('redeliver_after_seconds')::integer, 30));
  attempt_limit integer := jobqueue_private.max_attempts();
  candidate record;
  job public.job_results;
  handled integer := 0;
begin
  for candidate in
    select q.msg_id, q.message
    from pgmq.q_work_queue q
    left join jobqueue_private.deliveries d on d.msg_id = q.msg_id
    where q.vt <= clock_timestamp()
      and (d.msg_id is null or d.last_delivered_at < q.vt or d.last_delivered_at < clock_timestamp() - quiet_period)
    order by q.msg_id
    limit 500
  loop
    select * into job from public.job_results r
    where r.job_id = (candidate.message ->> 'job_id')::uuid for update skip locked;
    if not found then
      if not exists (select from public.job_results r where r.job_id = (candidate.message ->> 'job_id')::uuid) then
        perform pgmq.archive('work_queue', candidate.msg_id);
        handled := handled + 1;
      end if;
      continue;
    end if;
    if job.status in ('completed', 'failed') then
      perform pgmq.archive('work_queue', candidate.msg_id);
    elsif job.attempts >= attempt_limit then
      perform jobqueue_private.dead_letter(job, format('no result after %s attempts: the last lease expired',
                                                       job.attempts));
    elsif jobqueue_private.deliver(candidate.msg_id, candidate.message) is null then
      continue;
    end if;
    handled := handled + 1;
  end loop;
  return handled;
end
$$;

revoke all on function public.sweep_work_queue() from public, anon, authenticated;
grant execute on function public.sweep_work_queue() to service_role;

-- Scheduled once under a fixed name; applying this file again changes nothing.
do $$
begin
  if not exists (select from cron.job
                 where jobname = 'work_queue_sweeper' and schedule = '10 seconds'
                   and command = 'select public.sweep_work_queue()') then
    perform cron.schedule('work_queue_sweeper', '10 seconds', 'select public.sweep_work_queue()');
  end if;
end
$$;
