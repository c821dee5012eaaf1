-- A small app's schema: notes that anyone may read once published, and only the service role may write.
create table public.notes (
  id bigint generated always as identity primary key,
  body text not null,
  published boolean not null default false
);
alter table public.notes enable row level security;
create policy "published notes are public" on public.notes for select to anon, authenticated using (published);
grant select on public.notes to anon, authenticated;
