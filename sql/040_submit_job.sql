-- The one write the API roles may make: validate the name, queue the message and write the pending row,
-- all in one transaction, so a job is never queued without its row nor written without its message.
create or replace function public.submit_job(task_name text)
returns public.job_results
language plpgsql
security definer
set search_path = ''
as $$
declare
  clean_name text := regexp_replace(coalesce(task_name, ''), '^\s+|\s+$', '', 'g');
  new_job_id uuid := gen_random_uuid();
  new_msg_id bigint;
  job public.job_results;
begin
  if clean_name = '' then
    raise exception 'task_name is empty: give the job a name'
      using errcode = '22023', hint = 'a name of 1 to 200 characters, without control characters';
  end if;
  if char_length(clean_name) > 200 then
    raise exception 'task_name is % characters long; the limit is 200', char_length(clean_name)
      using errcode = '22023', hint = 'a name of 1 to 200 characters, without control characters';
  end if;
  if clean_name ~ '[\u0001-\u001f\u007f-\u009f]' then
    raise exception 'task_name contains control characters; use printable text'
      using errcode = '22023', hint = 'a name of 1 to 200 characters, without control characters';
  end if;

  select * into new_msg_id
  from pgmq.send('work_queue', jsonb_build_object('job_id', new_job_id, 'task_name', clean_name));

  insert into public.job_results (job_id, task_name, status, msg_id)
  values (new_job_id, clean_name, 'pending', new_msg_id)
  returning * into job;
  return job;
end
$$;

revoke all on function public.submit_job(text) from public;
grant execute on function public.submit_job(text) to anon, authenticated, service_role;
