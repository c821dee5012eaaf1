-- pg_cron keeps a row per run in cron.job_run_details and never deletes it: the sweeper's 10-second
-- schedule alone adds about 8,600 rows a day. As pg_cron's README advises, a daily job deletes the runs
-- that ended more than 7 days ago. Scheduled once under a fixed name; applying this file again changes
-- nothing.
do $$
begin
  if not exists (select from cron.job
                 where jobname = 'cron_run_details_cleanup' and schedule = '17 3 * * *'
                   and command = 'delete from cron.job_run_details where end_time < now() - interval ''7 days''') then
    perform cron.schedule('cron_run_details_cleanup', '17 3 * * *',
                          'delete from cron.job_run_details where end_time < now() - interval ''7 days''');
  end if;
end
$$;
