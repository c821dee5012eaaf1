-- unless-extension-available: pg_net
-- A pg_net-compatible `net` schema: the same functions, signatures and tables as pg_net, served by the
-- stack's dispatcher instead of a background worker. Requests are queued in the caller's transaction; an
-- insert trigger notifies the dispatcher, and NOTIFY is delivered only at commit, so a rolled-back
-- request is never sent. Responses land in net._http_response and are deleted after `pg_net.ttl`
-- (default 6 hours), as pg_net does. Both tables are unlogged, as pg_net's are: no WAL, so the dispatcher's
-- claims and response records commit without waiting for a flush, and a crash empties them.
create schema if not exists net;

do $$
begin
  if to_regtype('net.http_method') is null then
    create domain net.http_method as text
      check (value ilike 'get' or value ilike 'post' or value ilike 'delete');
  end if;
end
$$;

create unlogged table if not exists net.http_request_queue (
  id bigserial,
  method net.http_method not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds int not null
);
create index if not exists http_request_queue_id_idx on net.http_request_queue (id);

create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out bool,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);
create index if not exists _http_response_id_idx on net._http_response (id);
-- Stacks made before the tables were unlogged.
alter table net.http_request_queue set unlogged;
alter table net._http_response set unlogged;

-- Percent-encode a string as a URL query component (RFC 3986 unreserved characters stay as they are).
create or replace function net._urlencode_string(string varchar)
  returns text
  language sql
  immutable
  set search_path = ''
as $$
  select coalesce(string_agg(
           case when chr(b) ~ '^[A-Za-z0-9._~-]$' then chr(b)
                else '%' || upper(lpad(to_hex(b), 2, '0')) end, '' order by i), '')
  from (select convert_to(string, 'UTF8') as bytes) as s,
       lateral generate_series(0, length(s.bytes) - 1) as i,
       lateral get_byte(s.bytes, i) as b;
$$;

-- The URL with `params` appended to its query string, encoded as pg_net does.
create or replace function net._encode_url_with_params(url text, params jsonb)
  returns text
  language sql
  immutable
  set search_path = ''
as $$
  select case when query = '' then url
              when position('?' in url) > 0 then url || '&' || query
              else url || '?' || query end
  from (select coalesce(string_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value), '&'), '')
               as query
        from jsonb_each_text(coalesce(params, '{}'::jsonb))) as q;
$$;

create or replace function net._enqueue(method text, url text, headers jsonb, body bytea, timeout_milliseconds int)
  returns bigint
  language sql
  set search_path = ''
as $$
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (method, url, headers, body, timeout_milliseconds)
  returning id;
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000
)
  returns bigint
  language sql
  security definer
  set search_path = ''
as $$
  select net._enqueue('GET', net._encode_url_with_params(url, params), headers, null, timeout_milliseconds);
$$;

-- pg_net does this in C; here the common case (the usual Content-Type spelling, no params) takes the short way,
-- since every job's webhook passes through it.
create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds int default 5000
)
  returns bigint
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  content_type text := headers ->> 'Content-Type';
  request_id bigint;
begin
  if content_type is null then
    select header_value into content_type
    from jsonb_each_text(coalesce(headers, '{}'::jsonb)) as h(header_name, header_value)
    where lower(header_name) = 'content-type'
    limit 1;
  end if;

  if content_type is null then
    headers := coalesce(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
  elsif content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;
  if params is not null and params <> '{}'::jsonb then
    url := net._encode_url_with_params(url, params);
  end if;

  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('POST', url, headers, convert_to(body::text, 'UTF8'), timeout_milliseconds)
  returning id into request_id;
  return request_id;
end;
$$;

create or replace function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000,
  body jsonb default null
)
  returns bigint
  language sql
  security definer
  set search_path = ''
as $$
  select net._enqueue('DELETE', net._encode_url_with_params(url, params), headers,
                      convert_to(body::text, 'UTF8'), timeout_milliseconds);
$$;

-- Wake the dispatcher; NOTIFY is delivered when (and only if) the enqueuing transaction commits.
create or replace function net._wake_dispatcher()
  returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  perform pg_notify('net_http_request_queue', '');
  return null;
end;
$$;

create or replace trigger wake_dispatcher
  after insert on net.http_request_queue
  for each statement execute function net._wake_dispatcher();

-- Privileges as Supabase grants them for pg_net (supabase_admin grants them, so postgres cannot take them
-- back): the API roles may call the request functions. The queue and responses stay with postgres and
-- service_role (pg_net itself opens its tables to PUBLIC).
grant usage on schema net to postgres, anon, authenticated, service_role;
revoke all on all functions in schema net from public;
grant execute on function
  net.http_get(text, jsonb, jsonb, int),
  net.http_post(text, jsonb, jsonb, jsonb, int),
  net.http_delete(text, jsonb, jsonb, int, jsonb)
to postgres, anon, authenticated, service_role;
revoke all on all tables in schema net from public, anon, authenticated;
-- postgres reads and tidies the queue and the responses, as it may on Supabase.
grant all privileges on all tables in schema net to postgres;
grant all privileges on all sequences in schema net to postgres;
grant select, delete on net._http_response to service_role;
grant select on net.http_request_queue to service_role;
