-- The sweeper makes delivery at least once: a lost webhook request or a dead worker delays a job but never
-- loses it, and it sends delayed work just before it comes due. Every 10 seconds it looks at the messages of
-- work_queue that are visible or become visible within deliver_ahead_seconds, highest priority first, and
--   * delivers one whose visibility window has not been delivered yet: a delayed job or a retry's back-off
--     about to end (the worker holds it until run_after), or a lease that expired (worker killed);
--   * re-delivers a visible one that no worker claimed within redeliver_after_seconds of being sent;
--   * dead-letters one whose job has used all its attempts (its last lease expired without a result);
--   * ends cancelled one whose job the operator cancelled while its worker died;
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
  horizon timestamptz := clock_timestamp() + jobqueue_private.deliver_ahead();
  candidate record;
  job public.job_results;
  handled integer := 0;
begin
  for candidate in
    select q.msg_id, q.message, q.vt
    from pgmq.q_work_queue q
    left join jobqueue_private.deliveries d on d.msg_id = q.msg_id
    where q.vt <= horizon
      and (d.msg_id is null or d.visible_at is distinct from q.vt
           or (q.vt <= clock_timestamp() and d.last_delivered_at < clock_timestamp() - quiet_period))
    order by coalesce((q.message ->> 'priority')::integer, 0) desc, q.msg_id
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
    if candidate.vt > clock_timestamp() and job.status <> 'pending' then
      continue;  -- a running job's lease: it is the worker's until it runs out
    end if;
    if job.status in ('completed', 'failed', 'cancelled') then
      perform pgmq.archive('work_queue', candidate.msg_id);
    elsif job.cancelled_at is not null then
      perform jobqueue_private.finish_cancelled(job);
    elsif job.attempts >= jobqueue_private.attempt_limit(job, null) then
      perform jobqueue_private.dead_letter(job, format('no result after %s attempts: the last lease expired',
                                                       job.attempts));
    elsif jobqueue_private.deliver(candidate.msg_id, candidate.message, candidate.vt) is null then
      continue;
    end if;
    handled := handled + 1;
  end loop;
  delete from jobqueue_private.submit_rate r where r.window_start < clock_timestamp() - interval '2 minutes';
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
