-- The monitoring query of the jobs API, as a view: per job type and status, how many jobs, how long they
-- waited (created or run_after → started) and ran (started → finished), p50 and p95 in seconds, and how many
-- saw a failed attempt. It reads job_results as the caller (security_invoker), so row level security holds.
create or replace view public.job_stats with (security_invoker = true) as
select
  t.job_type,
  t.status,
  count(*)::integer as jobs,
  round(percentile_cont(0.5) within group (order by t.wait_seconds)::numeric, 3) as wait_p50_seconds,
  round(percentile_cont(0.95) within group (order by t.wait_seconds)::numeric, 3) as wait_p95_seconds,
  round(percentile_cont(0.5) within group (order by t.run_seconds)::numeric, 3) as run_p50_seconds,
  round(percentile_cont(0.95) within group (order by t.run_seconds)::numeric, 3) as run_p95_seconds,
  (count(*) filter (where t.error is not null))::integer as failures,
  coalesce(sum(greatest(t.attempts - 1, 0)), 0)::integer as retries
from (
  select r.job_type, r.status, r.error, r.attempts,
         extract(epoch from r.started_at - coalesce(r.run_after, r.created_at)) as wait_seconds,
         extract(epoch from r.completed_at - r.started_at) as run_seconds
  from public.job_results r
) as t
group by t.job_type, t.status;

revoke all on public.job_stats from public, anon, authenticated;
grant select on public.job_stats to anon, authenticated, service_role;
