-- unless-extension-available: pg_cron
-- A pg_cron-compatible `cron` schema, run by the stack's cron runner: pg_cron's tables and functions,
-- standard 5-field schedules and pg_cron's '[1-59] seconds'. Every change to cron.job notifies the runner,
-- which keeps the schedule in memory. As with pg_cron, each job runs as the user who scheduled it and
-- row level security shows users their own jobs only.
create schema if not exists cron;

create sequence if not exists cron.jobid_seq;
create table if not exists cron.job (
  jobid bigint primary key default nextval('cron.jobid_seq'),
  schedule text not null,
  command text not null,
  nodename text not null default 'localhost',
  nodeport int not null default inet_server_port(),
  database text not null default current_database(),
  username text not null default current_user,
  active boolean not null default true,
  jobname text,
  constraint jobname_username_uniq unique (jobname, username)
);
alter sequence cron.jobid_seq owned by cron.job.jobid;

create sequence if not exists cron.runid_seq;
create table if not exists cron.job_run_details (
  jobid bigint,
  runid bigint primary key default nextval('cron.runid_seq'),
  job_pid integer,
  database text,
  username text,
  command text,
  status text,
  return_message text,
  start_time timestamptz,
  end_time timestamptz
);
alter sequence cron.runid_seq owned by cron.job_run_details.runid;
create index if not exists job_run_details_jobid_idx on cron.job_run_details (jobid, runid);

alter table cron.job enable row level security;
alter table cron.job_run_details enable row level security;
drop policy if exists cron_job_policy on cron.job;
create policy cron_job_policy on cron.job using (username = current_user);
drop policy if exists cron_job_run_details_policy on cron.job_run_details;
create policy cron_job_run_details_policy on cron.job_run_details using (username = current_user);

-- One cron field: `*`, numbers, ranges, steps, lists and (for months and weekdays) names, all in range.
create or replace function cron._valid_field(field text, low int, high int, names text[] default '{}')
  returns boolean
  language plpgsql
  immutable
  set search_path = ''
as $$
declare
  item text;
  parts text[];
  value text;
begin
  foreach item in array string_to_array(lower(field), ',') loop
    parts := regexp_match(item, '^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$');
    if parts is null then
      return false;
    end if;
    if parts[2] is not null and (parts[2]::int < 1 or parts[2]::int > high) then
      return false;
    end if;
    if parts[1] <> '*' then
      foreach value in array string_to_array(parts[1], '-') loop
        if value ~ '^[0-9]+$' then
          if value::int < low or value::int > high then
            return false;
          end if;
        elsif not (value = any (names)) then
          return false;
        end if;
      end loop;
    end if;
  end loop;
  return true;
end;
$$;

-- True for what pg_cron accepts: five cron fields, a @-macro, or '[1-59] second(s)'.
create or replace function cron._valid_schedule(schedule text)
  returns boolean
  language plpgsql
  immutable
  set search_path = ''
as $$
declare
  seconds text[] := regexp_match(lower(schedule), '^\s*([0-9]+)\s*seconds?\s*$');
  fields text[] := regexp_split_to_array(btrim(schedule), '\s+');
begin
  if seconds is not null then
    return seconds[1]::numeric between 1 and 59;
  end if;
  if lower(btrim(schedule)) in ('@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly') then
    return true;
  end if;
  return coalesce(array_length(fields, 1), 0) = 5
    and cron._valid_field(fields[1], 0, 59)
    and cron._valid_field(fields[2], 0, 23)
    and cron._valid_field(fields[3], 1, 31)
    and cron._valid_field(fields[4], 1, 12,
          '{jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec}')
    and cron._valid_field(fields[5], 0, 7, '{sun,mon,tue,wed,thu,fri,sat}');
end;
$$;

create or replace function cron._check_schedule(schedule text)
  returns void
  language plpgsql
  immutable
  set search_path = ''
as $$
begin
  if schedule is null or not cron._valid_schedule(schedule) then
    raise exception 'invalid schedule: %', schedule
      using errcode = 'invalid_parameter_value',
            hint = 'Use cron format (e.g. 5 4 * * *), or interval format ''[1-59] seconds''';
  end if;
end;
$$;

-- pg_cron's functions are C code that write cron.job whatever the caller's grants; here they are SQL, so
-- the writes happen in SECURITY DEFINER functions that act for a role the session may become (its login
-- or a role it is a member of), never for one it may not. cron.schedule() itself runs as its caller, so
-- a job belongs to current_user, as with pg_cron.
create or replace function cron._session_may_act_as(role_name name)
  returns void
  language plpgsql
  stable
  set search_path = ''
as $$
begin
  if not pg_catalog.pg_has_role(session_user, role_name, 'member') then
    raise exception 'permission denied to act for role %', role_name using errcode = 'insufficient_privilege';
  end if;
end;
$$;

create or replace function cron._schedule_for(role_name name, job_name text, schedule text, command text)
  returns bigint
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  id bigint;
begin
  perform cron._session_may_act_as(role_name);
  perform cron._check_schedule(schedule);
  insert into cron.job (schedule, command, jobname, username)
  values (schedule, command, job_name, role_name)
  on conflict on constraint jobname_username_uniq
    do update set schedule = excluded.schedule, command = excluded.command, database = excluded.database
  returning jobid into id;
  return id;
end;
$$;

create or replace function cron._unschedule_for(role_name name, job_id bigint, job_name text)
  returns boolean
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform cron._session_may_act_as(role_name);
  if job_id is null and job_name is null then
    raise exception 'job_name can not be NULL';
  end if;
  delete from cron.job j
  where (job_id is null or j.jobid = job_id) and (job_name is null or j.jobname = job_name)
    and (j.username = role_name or (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = role_name));
  if not found then
    raise exception 'could not find valid entry for job %', coalesce(job_id::text, quote_literal(job_name));
  end if;
  return true;
end;
$$;

create or replace function cron.schedule(job_name text, schedule text, command text)
  returns bigint
  language sql
  set search_path = ''
as $$
  select cron._schedule_for(current_user, job_name, schedule, command);
$$;
comment on function cron.schedule(text, text, text) is 'schedule a pg_cron job';

create or replace function cron.schedule(schedule text, command text)
  returns bigint
  language sql
  set search_path = ''
as $$
  -- A job without a name never conflicts (names are unique per user only when given).
  select cron.schedule(null::text, schedule, command);
$$;
comment on function cron.schedule(text, text) is 'schedule a pg_cron job';

create or replace function cron.unschedule(job_id bigint)
  returns boolean
  language sql
  set search_path = ''
as $$
  select cron._unschedule_for(current_user, job_id, null);
$$;
comment on function cron.unschedule(bigint) is 'unschedule a pg_cron job';

create or replace function cron.unschedule(job_name text)
  returns boolean
  language plpgsql
  set search_path = ''
as $$
begin
  if job_name is null then
    raise exception 'job_name can not be NULL';
  end if;
  return cron._unschedule_for(current_user, null, job_name);
end;
$$;
comment on function cron.unschedule(text) is 'unschedule a pg_cron job';

-- The runner keeps the schedule in memory; any change to cron.job tells it to reload (at commit).
create or replace function cron._job_changed()
  returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  perform pg_notify('cron_job_changed', '');
  return null;
end;
$$;

create or replace trigger cron_job_cache_invalidate
  after insert or update or delete or truncate on cron.job
  for each statement execute function cron._job_changed();

-- As on Supabase (its pg_cron grants, docs/hosted-roles.md): cron belongs to postgres, which may read
-- cron.job but change it only through the functions; others see (through RLS) only their own jobs and runs.
revoke all on schema cron from public;
grant usage on schema cron to postgres with grant option;
grant all on all functions in schema cron to postgres with grant option;
grant all privileges on all tables in schema cron to postgres with grant option;
grant all privileges on all sequences in schema cron to postgres with grant option;
revoke all on table cron.job from postgres;
grant select on table cron.job to postgres with grant option;
grant select on cron.job to public;
grant select, delete on cron.job_run_details to public;
