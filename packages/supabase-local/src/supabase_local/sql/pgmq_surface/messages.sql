-- The message functions of an older PGMQ, over queue tables of that version's shape (@COLUMNS@).
-- Written for the embedded stack from PGMQ's documented API; supabase_local/pgmq_surface.py fills in the
-- version's columns and signatures. Applying it again gives the same functions.
do $$
declare
  fn regprocedure;
begin
  for fn in
    select p.oid::regprocedure from pg_proc p
    where p.pronamespace = 'pgmq'::regnamespace
      and (p.proname <> all (@KEEP_NAMES@)
           or p.proname in ('read', 'read_with_poll', 'pop', 'set_vt', 'archive'@REDEFINED@))
  loop
    execute format('drop function %s', fn);
  end loop;
end
$$;

alter type pgmq.message_record drop attribute if exists last_read_at;
@DROP_HEADERS@

create or replace function pgmq.create_non_partitioned(queue_name text)
returns void
language plpgsql
as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
begin
  perform pgmq.validate_queue_name(queue_name);
  execute format('create table if not exists pgmq.%I (msg_id bigint primary key generated always as identity, '
                 '@HEAD_DEFS@, @TAIL_DEFS@)', qtable);
  execute format('create table if not exists pgmq.%I (msg_id bigint primary key, @HEAD_DEFS@, '
                 'archived_at timestamptz not null default now(), @TAIL_DEFS@)', atable);
  execute format('create index if not exists %I on pgmq.%I (vt asc)', qtable || '_vt_idx', qtable);
  execute format('create index if not exists %I on pgmq.%I (archived_at)', 'archived_at_idx_' || queue_name, atable);
  insert into pgmq.meta (queue_name, is_partitioned, is_unlogged) values (queue_name, false, false)
  on conflict do nothing;
end
$$;

create or replace function pgmq.create_unlogged(queue_name text)
returns void
language plpgsql
as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
begin
  perform pgmq.create_non_partitioned(queue_name);
  execute format('alter table pgmq.%I set unlogged', qtable);
  update pgmq.meta m set is_unlogged = true where m.queue_name = create_unlogged.queue_name;
end
$$;

@SEND@

create function pgmq.read(queue_name text, vt integer, qty integer@CONDITIONAL_ARG@)
returns setof pgmq.message_record
language plpgsql
as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
begin
  return query execute format(
    'with cte as (select msg_id from pgmq.%1$I where vt <= clock_timestamp() @READ_FILTER@ '
    'order by msg_id limit $1 for update skip locked) '
    'update pgmq.%1$I m set vt = clock_timestamp() + $2, read_ct = m.read_ct + 1 from cte '
    'where m.msg_id = cte.msg_id returning @RETURNING@', qtable)
  using qty, make_interval(secs => vt)@CONDITIONAL_FORWARD@;
end
$$;

create function pgmq.read_with_poll(queue_name text, vt integer, qty integer, max_poll_seconds integer default 5,
                                    poll_interval_ms integer default 100@CONDITIONAL_ARG@)
returns setof pgmq.message_record
language plpgsql
as $$
declare
  stop_at timestamptz := clock_timestamp() + make_interval(secs => max_poll_seconds);
begin
  loop
    return query select * from pgmq.read(queue_name, vt, qty@CONDITIONAL_FORWARD@);
    if found or clock_timestamp() >= stop_at then
      return;
    end if;
    perform pg_sleep(poll_interval_ms / 1000.0);
  end loop;
end
$$;

create function pgmq.pop(queue_name text)
returns setof pgmq.message_record
language plpgsql
as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
begin
  return query execute format(
    'with cte as (select msg_id from pgmq.%1$I where vt <= clock_timestamp() order by msg_id limit 1 '
    'for update skip locked) delete from pgmq.%1$I m using cte where m.msg_id = cte.msg_id '
    'returning @RETURNING@', qtable);
end
$$;

create function pgmq.set_vt(queue_name text, msg_id bigint, vt integer)
returns setof pgmq.message_record
language plpgsql
as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
begin
  return query execute format(
    'update pgmq.%I m set vt = clock_timestamp() + $2 where m.msg_id = $1 returning @RETURNING@', qtable)
  using msg_id, make_interval(secs => vt);
end
$$;

create function pgmq.archive(queue_name text, msg_ids bigint[])
returns setof bigint
language plpgsql
as $$
begin
  return query execute format(
    'with archived as (delete from pgmq.%I where msg_id = any($1) returning @COLUMNS@) '
    'insert into pgmq.%I (@COLUMNS@) select @COLUMNS@ from archived returning msg_id',
    pgmq.format_table_name(queue_name, 'q'), pgmq.format_table_name(queue_name, 'a'))
  using msg_ids;
end
$$;

create function pgmq.archive(queue_name text, msg_id bigint)
returns boolean
language sql
as $$
  select exists (select from pgmq.archive(queue_name, array[msg_id]));
$$;
