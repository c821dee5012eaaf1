-- The one write the API roles may make: check every argument, queue the message and write the pending row, all in
-- one transaction, so a job is never queued without its row nor written without its message. Each refusal is
-- SQLSTATE 22023 with a message naming the argument, and nothing is queued.
insert into jobqueue_private.settings (key, value)
values ('max_waiting_jobs', '10000'), ('max_submits_per_client_per_minute', '600')
on conflict (key) do nothing;

-- Submits per client address and minute, for the per-client rate; the sweeper forgets past minutes.
create table if not exists jobqueue_private.submit_rate (
  client text not null,
  window_start timestamptz not null,
  submits integer not null default 1,
  primary key (client, window_start)
);
revoke all on jobqueue_private.submit_rate from public, anon, authenticated, service_role;

-- The anon key is public, so anyone may call submit_job in a loop. A request through the API carries the
-- caller's address in x-forwarded-for (the API gateway adds it); past max_submits_per_client_per_minute from
-- one address, submits are refused until the minute is over. The service role (the project's own code) is not
-- limited, nor is SQL run outside the API. Refused submits do not count: the refusal rolls the count back.
create or replace function jobqueue_private.check_client_rate()
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  address text := btrim(split_part(
    coalesce(nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-forwarded-for', ''), ',', 1));
  caller text := nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role';
  per_minute integer;
  used integer;
begin
  if address = '' or caller is not distinct from 'service_role' then
    return;
  end if;
  per_minute := coalesce(jobqueue_private.setting('max_submits_per_client_per_minute')::integer, 600);
  insert into jobqueue_private.submit_rate as r (client, window_start)
  values (address, date_trunc('minute', clock_timestamp()))
  on conflict (client, window_start) do update set submits = r.submits + 1
  returning r.submits into used;
  if used > per_minute then
    raise exception 'too many jobs from %: the limit is % a minute', address, per_minute
      using errcode = 'PT429', hint = 'retry in a minute; nothing was queued';
  end if;
end
$$;

-- The PRD's one-argument form grew optional arguments; the old signature would make submit_job(name) ambiguous.
drop function if exists public.submit_job(text);

create or replace function jobqueue_private.refuse(argument text, problem text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception '%', problem
    using errcode = '22023', detail = format('argument: %s', argument),
          hint = 'nothing was queued; correct the argument and submit again';
end
$$;

-- A printable text of 1 to 200 characters, or a refusal naming the argument.
create or replace function jobqueue_private.checked_text(argument text, value text)
returns text
language plpgsql
set search_path = ''
as $$
declare
  clean text := regexp_replace(value, '^\s+|\s+$', '', 'g');
begin
  if clean = '' then
    perform jobqueue_private.refuse(argument, format('%s is empty: give it 1 to 200 printable characters', argument));
  elsif char_length(clean) > 200 then
    perform jobqueue_private.refuse(argument, format('%s is %s characters long; the limit is 200', argument,
                                                     char_length(clean)));
  elsif clean ~ '[\u0001-\u001f\u007f-\u009f]' then
    perform jobqueue_private.refuse(argument, format('%s contains control characters; use printable text', argument));
  end if;
  return clean;
end
$$;

-- An integer within [low, high], or a refusal naming the argument.
create or replace function jobqueue_private.checked_range(argument text, value integer, low integer, high integer)
returns integer
language plpgsql
set search_path = ''
as $$
begin
  if value is not null and value not between low and high then
    perform jobqueue_private.refuse(argument, format('%s must be between %s and %s, got %s', argument, low, high,
                                                     value));
  end if;
  return value;
end
$$;

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
    perform pg_advisory_xact_lock(hashtextextended('test_queue.idempotency:' || kind.name || ':' || key, 0));
    select * into job from public.job_results r
    where r.job_type = kind.name and r.idempotency_key = key and r.status in ('pending', 'processing', 'completed');
    if found then
      return job;
    end if;
  end if;
  perform jobqueue_private.check_client_rate();
  -- Backpressure: the anon key is public, so the queue has a bound. The span of waiting msg_ids (two index
  -- probes) bounds their number from above; only when it reaches the bound are they counted, up to the bound.
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
                                  max_attempts, timeout_seconds, idempotency_key)
  values (new_job_id, clean_name, 'pending', new_msg_id, kind.name, body, chosen_priority, visible_at,
          coalesce(max_attempts, kind.max_attempts), coalesce(timeout_seconds, kind.timeout_seconds), key)
  returning * into job;
  return job;
end
$$;

revoke all on function public.submit_job(text, text, jsonb, integer, integer, integer, integer, text) from public;
grant execute on function public.submit_job(text, text, jsonb, integer, integer, integer, integer, text)
  to anon, authenticated, service_role;
revoke all on all functions in schema jobqueue_private from public, anon, authenticated;
