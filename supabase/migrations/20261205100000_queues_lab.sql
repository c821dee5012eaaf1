-- The queues lab: the queues seed (Suplatzigram) built for real beside the job system. A like writes its row
-- and fans out into three PGMQ queues in the same transaction; batch consumers (worker endpoints, called by
-- pg_cron through pg_net with a bearer secret read from Vault at call time) read a batch under a visibility
-- timeout, handle it idempotently, archive (or delete) it in one call and dead-letter what passed its read
-- limit; pg_cron trims each queue's archive after its own retention.

-- The seed's domain. The project has no profiles table: owner and recipient ids are plain uuids here (add the
-- seed's foreign keys to profiles(id) where one exists).
create table if not exists public.posts (
  id uuid primary key default gen_random_uuid(),
  profile_id uuid,
  caption text not null default '',
  likes numeric not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint posts_likes_check check (likes >= 0)
);

create table if not exists public.post_ratings (
  id uuid primary key default gen_random_uuid(),
  post_id uuid not null references public.posts (id) on delete cascade,
  session_id text not null,
  created_at timestamptz not null default now(),
  constraint post_ratings_post_session_key unique (post_id, session_id)
);

create table if not exists public.analytics_events (
  id uuid primary key default gen_random_uuid(),
  event_type text not null,
  post_id uuid references public.posts (id) on delete set null,
  session_id text,
  profile_id uuid,
  metadata jsonb,
  created_at timestamptz default now()
);
create index if not exists idx_analytics_event_type on public.analytics_events (event_type);
create index if not exists idx_analytics_post_id on public.analytics_events (post_id);
create index if not exists idx_analytics_created_at on public.analytics_events (created_at);

create table if not exists public.notifications (
  id uuid primary key default gen_random_uuid(),
  recipient_id uuid not null,
  type text not null,
  data jsonb not null,
  read_at timestamptz,
  created_at timestamptz default now()
);
create index if not exists idx_notifications_unread on public.notifications (recipient_id, created_at)
  where read_at is null;

-- What the like_events consumer keeps: a counter per post, built from the events (the seed's "per-post counter").
create table if not exists public.post_like_counters (
  post_id uuid primary key references public.posts (id) on delete cascade,
  likes bigint not null default 0,
  unlikes bigint not null default 0,
  net bigint not null default 0,
  last_event_at timestamptz,
  updated_at timestamptz not null default now()
);

-- Which like events the counters already hold: a batch delivered again after a crash counts nothing twice.
create table if not exists jobqueue_private.applied_like_events (
  event_id uuid primary key,
  applied_at timestamptz not null default now()
);
revoke all on jobqueue_private.applied_like_events from public, anon, authenticated, service_role;

-- Everyone reads the feed (posts, counters) and who-liked-what without the session ids (a session id is what
-- toggles a like, so it is not shown to others); notifications and analytics are the service role's.
do $$
declare
  readable text;
begin
  foreach readable in array array['posts', 'post_ratings', 'post_like_counters'] loop
    if not exists (select from pg_policies
                   where schemaname = 'public' and tablename = readable and policyname = readable || '_read') then
      execute format('create policy %I on public.%I for select to anon, authenticated using (true)',
                     readable || '_read', readable);
    end if;
  end loop;
end
$$;
alter table public.posts enable row level security;
alter table public.post_ratings enable row level security;
alter table public.post_like_counters enable row level security;
alter table public.analytics_events enable row level security;
alter table public.notifications enable row level security;
revoke all on public.posts, public.post_ratings, public.post_like_counters, public.analytics_events,
  public.notifications from public, anon, authenticated;
grant select on public.posts, public.post_like_counters to anon, authenticated;
grant select (id, post_id, created_at) on public.post_ratings to anon, authenticated;
grant all on public.posts, public.post_ratings, public.post_like_counters, public.analytics_events,
  public.notifications to service_role;

do $$
declare
  published text;
begin
  foreach published in array array['posts', 'post_ratings'] loop
    if not exists (select from pg_publication_tables
                   where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = published) then
      execute format('alter publication supabase_realtime add table public.%I', published);
    end if;
  end loop;
end
$$;

-- One row per consumed queue: its cron schedule (null: paused), batch, visibility timeout, read limit and how
-- long its archive is kept (the seed's 30 / 7 / 90 days). lab_noop carries no-op messages for comparing drains.
create table if not exists jobqueue_private.queue_consumers (
  queue_name text primary key,
  job_name text not null unique,
  schedule text,
  batch_size integer not null check (batch_size between 1 and 1000),
  visibility_seconds integer not null check (visibility_seconds between 1 and 3600),
  max_reads integer not null check (max_reads between 1 and 100),
  archive_days integer not null check (archive_days >= 0)
);
revoke all on jobqueue_private.queue_consumers from public, anon, authenticated, service_role;
insert into jobqueue_private.queue_consumers
  (queue_name, job_name, schedule, batch_size, visibility_seconds, max_reads, archive_days)
values ('like_events', 'process-like-events', '* * * * *', 100, 30, 5, 30),
       ('notifications', 'process-notifications', '10 seconds', 10, 30, 5, 7),
       ('analytics', 'process-analytics', '* * * * *', 100, 30, 5, 90),
       ('lab_noop', 'process-lab-noop', null, 100, 30, 5, 1)
on conflict (queue_name) do nothing;

-- Each queue and its dead-letter queue, with row level security and no policies, as on the work queue.
do $$
declare
  consumed text;
  queue text;
begin
  for consumed in select c.queue_name from jobqueue_private.queue_consumers c loop
    foreach queue in array array[consumed, consumed || '_dlq'] loop
      if to_regclass(format('pgmq.%I', 'q_' || queue)) is null then
        perform pgmq.create(queue);
      end if;
      execute format('alter table pgmq.%I enable row level security', 'q_' || queue);
      execute format('alter table pgmq.%I enable row level security', 'a_' || queue);
    end loop;
  end loop;
end
$$;

-- A queue the lab functions may touch (a consumed queue or its DLQ), or a refusal naming the argument: they
-- never reach work_queue or a queue of someone else's.
create or replace function jobqueue_private.lab_queue(queue_name text)
returns text
language plpgsql
stable
set search_path = ''
as $$
begin
  if not exists (select from jobqueue_private.queue_consumers c
                 where lab_queue.queue_name in (c.queue_name, c.queue_name || '_dlq')) then
    perform jobqueue_private.refuse('queue_name', format('%s is not a queue of the queues lab (known: %s)',
      coalesce(quote_literal(queue_name), 'null'),
      (select string_agg(c.queue_name, ', ' order by c.queue_name) from jobqueue_private.queue_consumers c)));
  end if;
  return queue_name;
end
$$;

create or replace function jobqueue_private.checked_ids(msg_ids bigint[])
returns bigint[]
language plpgsql
immutable
set search_path = ''
as $$
begin
  if msg_ids is null or cardinality(msg_ids) > 1000 then
    perform jobqueue_private.refuse('msg_ids', 'msg_ids must be an array of at most 1000 message ids');
  end if;
  return msg_ids;
end
$$;

-- The like, as the seed's toggle_post_like: likes or unlikes atomically and, in the same transaction, sends
-- the rich like event to like_events, a notification for the post's owner (likes only) and an analytics event.
-- Every message carries an event_id, the consumers' idempotency key. A failing send rolls the like back.
create or replace function public.toggle_post_like(p_post_id uuid, p_session_id text)
returns json
language plpgsql
security definer
set search_path = ''
as $$
declare
  post public.posts;
  existing uuid;
  liked boolean;
  new_likes numeric;
  happened_at timestamptz := clock_timestamp();
  claims jsonb := coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, '{}');
  liker uuid := case when claims ->> 'sub' ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
                     then (claims ->> 'sub')::uuid end;
begin
  if p_post_id is null then
    perform jobqueue_private.refuse('p_post_id', 'p_post_id is null: give the id of a post');
  end if;
  if p_session_id is null or p_session_id !~ '^[A-Za-z0-9._:-]{1,128}$' then
    perform jobqueue_private.refuse('p_session_id',
      'p_session_id must be 1 to 128 letters, digits or ._:- characters');
  end if;
  -- The post's row lock orders concurrent toggles of one post: each sees the rating the one before left.
  select * into post from public.posts p where p.id = p_post_id for update;
  if not found then
    perform jobqueue_private.refuse('p_post_id', format('post %s does not exist', p_post_id));
  end if;
  delete from public.post_ratings r where r.post_id = p_post_id and r.session_id = p_session_id
  returning r.id into existing;
  liked := existing is null;
  if liked then
    insert into public.post_ratings (post_id, session_id) values (p_post_id, p_session_id);
  end if;
  update public.posts p
  set likes = greatest(0, p.likes + case when liked then 1 else -1 end), updated_at = happened_at
  where p.id = p_post_id
  returning p.likes into new_likes;

  perform pgmq.send('like_events', jsonb_build_object(
    'event_id', gen_random_uuid(), 'event_type', case when liked then 'like' else 'unlike' end,
    'event_value', case when liked then 1 else -1 end, 'post_id', p_post_id, 'post_owner_id', post.profile_id,
    'post_caption', post.caption, 'liker_session_id', p_session_id, 'liker_profile_id', liker,
    'new_like_count', new_likes, 'timestamp', happened_at,
    'metadata', jsonb_build_object('source', 'toggle_post_like', 'role', coalesce(claims ->> 'role', session_user))));
  if liked and post.profile_id is not null then
    perform pgmq.send('notifications', jsonb_build_object(
      'event_id', gen_random_uuid(), 'type', 'new_like', 'post_id', p_post_id, 'session_id', p_session_id,
      'recipient_id', post.profile_id, 'timestamp', happened_at));
  end if;
  perform pgmq.send('analytics', jsonb_build_object(
    'event_id', gen_random_uuid(), 'event', case when liked then 'like' else 'unlike' end, 'post_id', p_post_id,
    'session_id', p_session_id, 'profile_id', liker, 'new_count', new_likes, 'timestamp', happened_at));

  return json_build_object('success', true, 'isLiked', liked, 'newLikeCount', new_likes);
end
$$;
revoke all on function public.toggle_post_like(uuid, text) from public;
grant execute on function public.toggle_post_like(uuid, text) to anon, authenticated, service_role;

-- The like_events consumer's effect: add each new event to its post's counter, in one transaction, skipping
-- events applied before (a re-delivered batch) and posts deleted since. Returns how many were new.
create or replace function public.apply_like_events(events jsonb)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  applied integer;
begin
  if jsonb_typeof(events) is distinct from 'array' then
    perform jobqueue_private.refuse('events', 'events must be a JSON array of like events');
  end if;
  with incoming as (
    select (e ->> 'event_id')::uuid as event_id, (e ->> 'post_id')::uuid as post_id,
           coalesce((e ->> 'event_value')::integer, 0) as value, (e ->> 'timestamp')::timestamptz as at
    from jsonb_array_elements(events) e
  ), fresh as (
    insert into jobqueue_private.applied_like_events (event_id)
    select distinct i.event_id from incoming i where i.event_id is not null
    on conflict (event_id) do nothing
    returning event_id
  ), counted as (
    select i.post_id, count(*) filter (where i.value > 0) as likes, count(*) filter (where i.value < 0) as unlikes,
           sum(i.value) as net, max(i.at) as last_at
    from incoming i join fresh f on f.event_id = i.event_id
    where exists (select from public.posts p where p.id = i.post_id)
    group by i.post_id
  ), written as (
    insert into public.post_like_counters as c (post_id, likes, unlikes, net, last_event_at)
    select post_id, likes, unlikes, net, last_at from counted
    on conflict (post_id) do update
      set likes = c.likes + excluded.likes, unlikes = c.unlikes + excluded.unlikes, net = c.net + excluded.net,
          last_event_at = greatest(c.last_event_at, excluded.last_event_at), updated_at = now()
  )
  select count(*) into applied from fresh;
  return applied;
end
$$;

-- A batch acknowledged in one call: pgmq_public deletes or archives one message per call; this takes the whole
-- batch (pgmq.delete / pgmq.archive of an id array) and returns the ids it removed from the queue.
create or replace function public.acknowledge_messages(queue_name text, msg_ids bigint[], archive boolean default false)
returns setof bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  queue text := jobqueue_private.lab_queue(queue_name);
begin
  if archive then
    return query select pgmq.archive(queue, jobqueue_private.checked_ids(msg_ids));
  else
    return query select pgmq.delete(queue, jobqueue_private.checked_ids(msg_ids));
  end if;
end
$$;

-- Move the given messages, if still queued, to the queue's DLQ in one transaction: each dead letter keeps its
-- message and adds why, its old msg_id and read count. Returns the old ids that moved.
create or replace function public.dead_letter_messages(queue_name text, msg_ids bigint[], reason text)
returns setof bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  queue text := jobqueue_private.lab_queue(queue_name);
  moved bigint[];
  letters jsonb[];
begin
  if queue like '%\_dlq' then
    perform jobqueue_private.refuse('queue_name', format('%s is a dead-letter queue already', queue));
  end if;
  execute format(
    'with moved as (delete from pgmq.%I q where q.msg_id = any($1) returning q.msg_id, q.read_ct, q.message) '
    'select coalesce(array_agg(m.msg_id order by m.msg_id), ''{}''), '
    'coalesce(array_agg(m.message || jsonb_build_object(''dead_letter'', jsonb_build_object(''queue'', $3, '
    '''msg_id'', m.msg_id, ''read_ct'', m.read_ct, ''reason'', $2, ''at'', clock_timestamp())) '
    'order by m.msg_id), ''{}'') from moved m', 'q_' || queue)
  into moved, letters using jobqueue_private.checked_ids(msg_ids), coalesce(reason, 'no reason given'), queue;
  if cardinality(letters) > 0 then
    perform pgmq.send_batch(queue || '_dlq', letters);
  end if;
  return query select unnest(moved);
end
$$;

-- Send up to max_messages dead letters back to their queue (oldest first, without their dead_letter note,
-- with a replay count) and archive them in the DLQ; returns how many went back.
create or replace function public.replay_dead_letters(queue_name text, max_messages integer default 100)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  queue text := jobqueue_private.lab_queue(queue_name);
  picked bigint[];
  letters jsonb[];
begin
  if queue like '%\_dlq' then
    perform jobqueue_private.refuse('queue_name', format('name the consumed queue, not its DLQ %s', queue));
  end if;
  perform jobqueue_private.checked_range('max_messages', max_messages, 1, 1000);
  execute format(
    'select coalesce(array_agg(d.msg_id order by d.msg_id), ''{}''), '
    'coalesce(array_agg((d.message - ''dead_letter'') || jsonb_build_object(''replays'', '
    'coalesce((d.message ->> ''replays'')::integer, 0) + 1) order by d.msg_id), ''{}'') '
    'from (select q.msg_id, q.message from pgmq.%I q order by q.msg_id limit $1 for update skip locked) d',
    'q_' || queue || '_dlq')
  into picked, letters using max_messages;
  if cardinality(picked) > 0 then
    perform pgmq.send_batch(queue, letters);
    perform pgmq.archive(queue || '_dlq', picked);
  end if;
  return cardinality(picked);
end
$$;

-- A long poll for the continuous consumer (pgmq_public has no read_with_poll): waits up to max_poll_seconds
-- for messages, then returns up to qty of them under the visibility timeout. Columns common to every PGMQ.
create or replace function public.read_messages_with_poll(queue_name text, visibility_seconds integer,
                                                          qty integer, max_poll_seconds integer default 5)
returns table (msg_id bigint, read_ct integer, enqueued_at timestamptz, vt timestamptz, message jsonb)
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform jobqueue_private.checked_range('visibility_seconds', visibility_seconds, 1, 3600);
  perform jobqueue_private.checked_range('qty', qty, 1, 1000);
  perform jobqueue_private.checked_range('max_poll_seconds', max_poll_seconds, 0, 30);
  return query select m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message
    from pgmq.read_with_poll(queue_name => jobqueue_private.lab_queue(queue_name), vt => visibility_seconds,
                             qty => qty, max_poll_seconds => max_poll_seconds, poll_interval_ms => 50) m;
end
$$;

-- The continuous consumer's one call per batch under load: acknowledge the batch it handled and read the next,
-- in one transaction (a failed call acknowledges nothing; the batch is read again and its effects are skipped).
create or replace function public.acknowledge_and_read(queue_name text, msg_ids bigint[], archive boolean,
                                                       visibility_seconds integer, qty integer)
returns table (msg_id bigint, read_ct integer, enqueued_at timestamptz, vt timestamptz, message jsonb)
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.acknowledge_messages(queue_name, msg_ids, archive);
  return query select m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message
    from public.read_messages_with_poll(queue_name, visibility_seconds, qty, 0) m;
end
$$;

-- Archive retention per queue (the seed's cleanup job): archived messages of each queue and its DLQ older
-- than the queue's archive_days go; so do like-event ids the counters hold for longer than that.
create or replace function public.trim_queue_archives()
returns table (queue_name text, deleted bigint)
language plpgsql
security definer
set search_path = ''
as $$
declare
  consumer record;
  queue text;
  removed bigint;
begin
  for consumer in select c.queue_name, c.archive_days from jobqueue_private.queue_consumers c
                  order by c.queue_name loop
    foreach queue in array array[consumer.queue_name, consumer.queue_name || '_dlq'] loop
      execute format('delete from pgmq.%I a where a.archived_at < now() - make_interval(days => $1)', 'a_' || queue)
        using consumer.archive_days;
      get diagnostics removed = row_count;
      queue_name := queue;
      deleted := removed;
      return next;
    end loop;
    if consumer.queue_name = 'like_events' then
      delete from jobqueue_private.applied_like_events e
      where e.applied_at < now() - make_interval(days => consumer.archive_days);
    end if;
  end loop;
end
$$;

-- The bearer the consumer endpoints accept: HMAC-SHA256 of "queue-consumers" under the webhook key, read from
-- Vault at every call. Not the service-role key, not a database setting: a token that opens the consumer
-- endpoints and nothing else, and that changes when the webhook secret is rotated.
create or replace function jobqueue_private.consumer_token()
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select encode(extensions.hmac(convert_to('queue-consumers', 'UTF8'),
                                 decode(substr(s, length('whsec_') + 1), 'base64'), 'sha256'), 'hex')
  from jobqueue_private.webhook_secret() as s
$$;

-- What pg_cron runs for a consumer: POST the worker's endpoint for that queue through pg_net with the batch
-- settings and the bearer. Returns the pg_net request id, or null when no worker URL or secret is set.
create or replace function jobqueue_private.call_queue_consumer(queue_name text)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  consumer jobqueue_private.queue_consumers;
  base text := regexp_replace(jobqueue_private.setting('worker_url'), '/hooks/work-queue/?$', '');
  token text := jobqueue_private.consumer_token();
begin
  select * into consumer from jobqueue_private.queue_consumers c where c.queue_name = call_queue_consumer.queue_name;
  if not found then
    perform jobqueue_private.refuse('queue_name', format('%s is not a consumed queue', queue_name));
  end if;
  if base is null or token is null then
    return null;
  end if;
  return net.http_post(
    url => base || '/hooks/consumers/' || consumer.queue_name,
    body => jsonb_build_object('batch_size', consumer.batch_size, 'visibility_seconds', consumer.visibility_seconds,
                               'max_reads', consumer.max_reads),
    headers => jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || token),
    timeout_milliseconds => greatest(5000, consumer.visibility_seconds * 1000));
end
$$;

-- Bring pg_cron in line with queue_consumers: one job per scheduled queue, none for a paused one, and the daily
-- archive retention. Run again after changing a schedule (the lab shortens them for its demo).
create or replace function jobqueue_private.schedule_queue_consumers()
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  consumer record;
  wanted text;
begin
  for consumer in select * from jobqueue_private.queue_consumers c order by c.queue_name loop
    wanted := format('select jobqueue_private.call_queue_consumer(%L)', consumer.queue_name);
    if consumer.schedule is null then
      if exists (select from cron.job j where j.jobname = consumer.job_name) then
        perform cron.unschedule(consumer.job_name);
      end if;
    elsif not exists (select from cron.job j where j.jobname = consumer.job_name
                      and j.schedule = consumer.schedule and j.command = wanted) then
      perform cron.schedule(consumer.job_name, consumer.schedule, wanted);
    end if;
  end loop;
  if not exists (select from cron.job j where j.jobname = 'cleanup-archived-messages' and j.schedule = '0 3 * * *'
                 and j.command = 'select * from public.trim_queue_archives()') then
    perform cron.schedule('cleanup-archived-messages', '0 3 * * *', 'select * from public.trim_queue_archives()');
  end if;
end
$$;

revoke all on all functions in schema jobqueue_private from public, anon, authenticated;
revoke all on function jobqueue_private.consumer_token(), jobqueue_private.call_queue_consumer(text)
  from service_role;
revoke all on function public.apply_like_events(jsonb), public.acknowledge_messages(text, bigint[], boolean),
  public.dead_letter_messages(text, bigint[], text),
  public.replay_dead_letters(text, integer), public.read_messages_with_poll(text, integer, integer, integer),
  public.acknowledge_and_read(text, bigint[], boolean, integer, integer),
  public.trim_queue_archives() from public, anon, authenticated;
grant execute on function public.apply_like_events(jsonb), public.acknowledge_messages(text, bigint[], boolean),
  public.dead_letter_messages(text, bigint[], text),
  public.replay_dead_letters(text, integer), public.read_messages_with_poll(text, integer, integer, integer),
  public.acknowledge_and_read(text, bigint[], boolean, integer, integer),
  public.trim_queue_archives() to service_role;

select jobqueue_private.schedule_queue_consumers();
