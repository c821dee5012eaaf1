-- One row per job: what the notebook's live table shows and what the worker writes its result into.
create table if not exists public.job_results (
  id uuid primary key default gen_random_uuid(),
  job_id uuid not null default gen_random_uuid(),
  task_name text not null,
  status text not null default 'pending',
  result text,
  error text,
  attempts integer not null default 0,
  msg_id bigint,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint job_results_job_id_key unique (job_id),
  constraint job_results_status_check check (status in ('pending', 'processing', 'completed', 'failed')),
  constraint job_results_attempts_check check (attempts >= 0)
);

-- The live table reads the newest rows first, all of them or one status at a time.
create index if not exists job_results_created_at_idx on public.job_results (created_at desc);
create index if not exists job_results_status_created_at_idx on public.job_results (status, created_at desc);

-- completed, failed and cancelled are terminal: a finished row never changes again, except that a failed job
-- may be sent back to pending by retry_failed_jobs(). updated_at follows every change.
create or replace function jobqueue_private.job_results_guard()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.status in ('completed', 'cancelled') or (old.status = 'failed' and new.status <> 'pending') then
    raise exception 'job % is % and cannot change', old.job_id, old.status
      using errcode = '55000',
            hint = 'completed, failed and cancelled are final; use retry_failed_jobs() for failed jobs';
  end if;
  new.updated_at := now();
  return new;
end
$$;
revoke all on function jobqueue_private.job_results_guard() from public, anon, authenticated;

create or replace trigger job_results_guard
before update on public.job_results
for each row execute function jobqueue_private.job_results_guard();

-- Everyone may read jobs (the demo has no sign-in); only service_role and the functions below write.
alter table public.job_results enable row level security;
do $$
begin
  if not exists (select from pg_policies
                 where schemaname = 'public' and tablename = 'job_results' and policyname = 'job_results_read') then
    create policy job_results_read on public.job_results for select to anon, authenticated using (true);
  end if;
end
$$;
revoke all on public.job_results from public, anon, authenticated;
grant select on public.job_results to anon, authenticated;
grant all on public.job_results to service_role;

-- Realtime pushes row changes of tables in this publication.
do $$
begin
  if not exists (select from pg_publication_tables
                 where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'job_results') then
    alter publication supabase_realtime add table public.job_results;
  end if;
end
$$;
