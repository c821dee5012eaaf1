-- Supabase's `pgmq_public` schema, as Supabase creates it when "Expose queues via PostgREST" is turned on.
-- The wrappers are SECURITY INVOKER: what a caller may do is decided by its grants on the pgmq queue
-- tables (service_role has them all; anon and authenticated have none until a project grants them).
create schema if not exists pgmq_public;
grant usage on schema pgmq_public to postgres, anon, authenticated, service_role;

create or replace function pgmq_public.pop(queue_name text)
  returns setof pgmq.message_record
  language plpgsql
  set search_path = ''
as $$
begin
  return query select * from pgmq.pop(queue_name := queue_name);
end;
$$;
comment on function pgmq_public.pop(text) is 'Retrieves and locks the next message from the specified queue.';

create or replace function pgmq_public.send(queue_name text, message jsonb, sleep_seconds integer default 0)
  returns setof bigint
  language plpgsql
  set search_path = ''
as $$
begin
  return query select * from pgmq.send(queue_name := queue_name, msg := message, delay := sleep_seconds);
end;
$$;
comment on function pgmq_public.send(text, jsonb, integer) is
  'Sends a message to the specified queue, optionally delaying its availability by a number of seconds.';

create or replace function pgmq_public.send_batch(queue_name text, messages jsonb[], sleep_seconds integer default 0)
  returns setof bigint
  language plpgsql
  set search_path = ''
as $$
begin
  return query select * from pgmq.send_batch(queue_name := queue_name, msgs := messages, delay := sleep_seconds);
end;
$$;
comment on function pgmq_public.send_batch(text, jsonb[], integer) is
  'Sends a batch of messages to the specified queue, optionally delaying their availability by a number of seconds.';

create or replace function pgmq_public.archive(queue_name text, message_id bigint)
  returns boolean
  language plpgsql
  set search_path = ''
as $$
begin
  return pgmq.archive(queue_name := queue_name, msg_id := message_id);
end;
$$;
comment on function pgmq_public.archive(text, bigint) is
  'Archives a message by moving it from the queue to a permanent archive.';

create or replace function pgmq_public.delete(queue_name text, message_id bigint)
  returns boolean
  language plpgsql
  set search_path = ''
as $$
begin
  return pgmq.delete(queue_name := queue_name, msg_id := message_id);
end;
$$;
comment on function pgmq_public.delete(text, bigint) is 'Permanently deletes a message from the specified queue.';

create or replace function pgmq_public.read(queue_name text, sleep_seconds integer, n integer)
  returns setof pgmq.message_record
  language plpgsql
  set search_path = ''
as $$
begin
  return query select * from pgmq.read(queue_name := queue_name, vt := sleep_seconds, qty := n);
end;
$$;
comment on function pgmq_public.read(text, integer, integer) is
  'Reads up to "n" messages from the specified queue with an optional "sleep_seconds" (visibility timeout).';

grant execute on function
  pgmq_public.pop(text),
  pgmq_public.send(text, jsonb, integer),
  pgmq_public.send_batch(text, jsonb[], integer),
  pgmq_public.archive(text, bigint),
  pgmq_public.delete(text, bigint),
  pgmq_public.read(text, integer, integer)
to postgres, anon, authenticated, service_role;

-- The pgmq functions the wrappers call (every overload of those names, so a PGMQ upgrade that adds one
-- keeps working).
do $$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure
    from pg_proc p
    where p.pronamespace = 'pgmq'::regnamespace
      and p.proname in ('pop', 'send', 'send_batch', 'archive', 'delete', 'read')
  loop
    execute format('grant execute on function %s to postgres, anon, authenticated, service_role', fn);
  end loop;
end
$$;

-- The service role gets every queue, now and later; anon and authenticated get none by default. postgres
-- creates queues (their tables are its own) but the pgmq functions and types stay supabase_admin's.
grant usage on schema pgmq to postgres, anon, authenticated, service_role;
grant create on schema pgmq to postgres;
grant all privileges on all tables in schema pgmq to postgres, service_role;
grant all privileges on all sequences in schema pgmq to postgres, service_role;
alter default privileges in schema pgmq grant all privileges on tables to postgres, service_role;
alter default privileges in schema pgmq grant all privileges on sequences to postgres, service_role;
alter default privileges for role postgres in schema pgmq grant all privileges on tables to service_role;
alter default privileges for role postgres in schema pgmq grant all privileges on sequences to service_role;
