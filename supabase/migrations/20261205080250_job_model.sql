-- The job model: a job has a type, an input document (payload) and an output document, a priority, an optional
-- start time (run_after), its own attempt limit and timeout, an optional idempotency key, progress, and may be
-- cancelled. Columns are added, never renamed: rows and readers of the PRD's shape keep working.
alter table public.job_results
  add column if not exists job_type text not null default 'echo',
  add column if not exists payload jsonb not null default '{}',
  add column if not exists output jsonb,
  add column if not exists priority integer not null default 0,
  add column if not exists run_after timestamptz,
  add column if not exists max_attempts integer,
  add column if not exists timeout_seconds integer,
  add column if not exists idempotency_key text,
  add column if not exists progress smallint not null default 0,
  add column if not exists progress_message text,
  add column if not exists cancelled_at timestamptz;

do $$
begin
  if not exists (select from pg_constraint where conname = 'job_results_job_type_fkey'
                                              and conrelid = 'public.job_results'::regclass) then
    alter table public.job_results add constraint job_results_job_type_fkey
      foreign key (job_type) references public.job_types (name) on update cascade;
  end if;
  if not exists (select from pg_constraint where conname = 'job_results_progress_check'
                                              and conrelid = 'public.job_results'::regclass) then
    alter table public.job_results add constraint job_results_progress_check check (progress between 0 and 100);
  end if;
  -- The PRD's statuses plus cancelled, final like completed.
  if not exists (select from pg_constraint where conname = 'job_results_status_check'
                   and conrelid = 'public.job_results'::regclass
                   and pg_get_constraintdef(oid) like '%cancelled%') then
    alter table public.job_results drop constraint if exists job_results_status_check;
    alter table public.job_results add constraint job_results_status_check
      check (status in ('pending', 'processing', 'completed', 'failed', 'cancelled'));
  end if;
end
$$;

-- Same type and key, same job: while a job holding a key is pending, processing or completed, a submit with
-- that key returns it. A failed or cancelled job lets its key go, so the work can be asked for again.
create unique index if not exists job_results_idempotency_key_idx
  on public.job_results (job_type, idempotency_key)
  where idempotency_key is not null and status in ('pending', 'processing', 'completed');

-- What the stats view and an operator's "what is waiting" look at.
create index if not exists job_results_type_status_idx on public.job_results (job_type, status);
