-- Broadcast from the database: `realtime.messages`, `realtime.send`, `realtime.broadcast_changes` and
-- `realtime.topic()` as hosted Realtime defines them (github.com/supabase/realtime,
-- lib/realtime/tenants/repo/migrations: 20240523004032_redefine_authorization_tables (grants, RLS, topic()),
-- 20241030150047_messages_partitioning and 20241108114728_messages_using_uuid (the table's columns),
-- 20240919163303_add_payload_to_messages (broadcast_changes), 20260605120000_rename_broadcast_send_warning (send),
-- 20250905041441_create_messages_replay_index).
--
-- Differences, and why: hosted partitions `messages` by day and reads new rows from the WAL; here the table is
-- one plain table with the same columns and key, and an AFTER INSERT trigger notifies `realtime_messages` with
-- the row (its id only when the row is too large for a notification), which the gateway delivers to the
-- topic's subscribers. A notification leaves only on commit, so a rolled-back send (or Realtime's own
-- authorization probes, which roll back) is never delivered, as with the WAL.
do $$
begin
  if not exists (select from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit noreplication;
  end if;
end
$$;
-- As on hosted projects without supautils' policy_grants: postgres acts as the owner of realtime.messages, so
-- a project's migrations can write its RLS policies.
grant supabase_realtime_admin to postgres;
grant usage on schema realtime to postgres, anon, authenticated, service_role;

create table if not exists realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp not null default now(),
  inserted_at timestamp not null default now(),
  id uuid not null default gen_random_uuid(),
  primary key (id, inserted_at)
);
create index if not exists messages_inserted_at_topic_index on realtime.messages (inserted_at desc, topic)
  where extension = 'broadcast' and private is true;
alter table realtime.messages enable row level security;
alter table realtime.messages owner to supabase_realtime_admin;
grant select, insert, update on realtime.messages to postgres, anon, authenticated, service_role;

create or replace function realtime.topic() returns text
language sql stable as $$
  select nullif(current_setting('realtime.topic', true), '')::text;
$$;

create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql as $$
declare
  generated_id uuid;
  final_payload jsonb;
begin
  begin
    generated_id := gen_random_uuid();
    if payload ? 'id' then
      final_payload := payload;
    else
      final_payload := jsonb_set(payload, '{id}', to_jsonb(generated_id));
    end if;
    execute format('SET LOCAL realtime.topic TO %L', topic);
    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (generated_id, final_payload, event, topic, private, 'broadcast');
  exception
    when others then
      raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end;
$$;

create or replace function realtime.broadcast_changes(topic_name text, event_name text, operation text,
                                                      table_name text, table_schema text, new record,
                                                      old record, level text default 'ROW')
returns void
language plpgsql as $$
declare
  row_data jsonb := '{}'::jsonb;
begin
  if level = 'STATEMENT' then
    raise exception 'function can only be triggered for each row, not for each statement';
  end if;
  if operation = 'INSERT' or operation = 'UPDATE' or operation = 'DELETE' then
    row_data := jsonb_build_object('old_record', old, 'record', new, 'operation', operation, 'table', table_name,
                                   'schema', table_schema);
    perform realtime.send(row_data, event_name, topic_name);
  else
    raise exception 'Unexpected operation type: %', operation;
  end if;
exception
  when others then
    raise exception 'Failed to process the row: %', sqlerrm;
end;
$$;

alter function realtime.topic() owner to supabase_realtime_admin;
alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
alter function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  owner to supabase_realtime_admin;
grant execute on function realtime.topic(), realtime.send(jsonb, text, text, boolean),
  realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  to postgres, anon, authenticated, service_role;

-- The topics the gateway's clients have joined (without `realtime:`), kept by the gateway
-- (supabase_local/realtime/watchlist.py) as it keeps realtime.watched_tables: listed before a join is answered.
create table if not exists realtime.joined_topics (
  topic text primary key
);

-- The stack's stand-in for the WAL reader: each committed broadcast row reaches the gateway by NOTIFY, when
-- its topic has a join. The row is written either way, as on hosted; the notification, most of what a
-- broadcast costs the database, is skipped when nobody could receive it.
create or replace function realtime.notify_message() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  body text;
begin
  if new.extension <> 'broadcast'
     or not exists (select from realtime.joined_topics j where j.topic = new.topic) then
    return null;
  end if;
  -- a line of JSON to route the message by, then the payload as it is: the gateway puts it into the frame unparsed
  body := pg_catalog.json_build_object('id', new.id, 'topic', new.topic, 'event', new.event,
                                       'private', coalesce(new.private, false))::text
          || pg_catalog.chr(10) || coalesce(new.payload::text, 'null');
  if pg_catalog.octet_length(body) > 7900 then  -- NOTIFY carries at most 8000 bytes: the gateway reads the row
    body := pg_catalog.json_build_object('id', new.id, 'inserted_at', new.inserted_at)::text;
  end if;
  perform pg_catalog.pg_notify('realtime_messages', body);
  return null;
end
$$;

drop trigger if exists notify_message on realtime.messages;
create trigger notify_message after insert on realtime.messages
  for each row execute function realtime.notify_message();
