-- What the worker can run: one row per job type, with the defaults a job of that type takes and the shape its
-- payload must have (a JSON Schema). Provisioning writes the rows from the worker's task registry; everyone may
-- read them (the notebook's form lists them); only the service role changes them.
create table if not exists public.job_types (
  name text primary key,
  description text not null default '',
  priority integer not null default 0,
  max_attempts integer,
  timeout_seconds integer not null default 300,
  payload_schema jsonb not null default '{"type": "object"}',
  updated_at timestamptz not null default now(),
  constraint job_types_name_check check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  constraint job_types_priority_check check (priority between -100 and 100),
  constraint job_types_max_attempts_check check (max_attempts between 1 and 25),
  constraint job_types_timeout_check check (timeout_seconds between 1 and 86400),
  constraint job_types_schema_check check (jsonb_typeof(payload_schema) = 'object')
);

-- The PRD's job: a name in, a sentence out. It is the default type, so submit_job(task_name) keeps working.
insert into public.job_types (name, description, timeout_seconds)
values ('echo', 'Waits a few seconds and returns a one-line result: the PRD''s task.', 300)
on conflict (name) do nothing;

alter table public.job_types enable row level security;
do $$
begin
  if not exists (select from pg_policies
                 where schemaname = 'public' and tablename = 'job_types' and policyname = 'job_types_read') then
    create policy job_types_read on public.job_types for select to anon, authenticated using (true);
  end if;
end
$$;
revoke all on public.job_types from public, anon, authenticated;
grant select on public.job_types to anon, authenticated;
grant all on public.job_types to service_role;
