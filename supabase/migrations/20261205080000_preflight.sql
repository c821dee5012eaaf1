-- test_queue builds on six extensions of hosted Supabase and on the Supabase API roles. Stop early, in plain
-- words, when one is missing. On the embedded stack some exist as schemas of the same shape rather than as
-- extensions, so the check looks for the objects used, not for pg_extension rows, and by name only: the
-- signatures differ between versions (PGMQ 1.4.4 has one send(text, jsonb, integer default 0), later
-- versions several overloads), so a signature lookup would miss a version that works.
-- pg_cron is the one whose version matters: the sweeper runs every 10 seconds, a schedule in seconds that
-- pg_cron accepts from 1.5 on (older hosted images had 1.4.2).
do $$
declare
  missing text[] := '{}';
  cron_version text := (select e.extversion from pg_extension e where e.extname = 'pg_cron');
begin
  if not exists (select from pg_proc where pronamespace = to_regnamespace('pgmq') and proname = 'send') then
    missing := missing || 'pgmq (the queue: create extension if not exists pgmq;)'::text;
  end if;
  if to_regprocedure('net.http_post(text,jsonb,jsonb,jsonb,integer)') is null then
    missing := missing || 'pg_net (the webhook: create extension if not exists pg_net;)'::text;
  end if;
  if to_regclass('cron.job') is null or to_regprocedure('cron.schedule(text,text,text)') is null then
    missing := missing || 'pg_cron (the sweeper: create extension if not exists pg_cron;)'::text;
  elsif string_to_array(regexp_replace(cron_version, '[^0-9.].*$', ''), '.')::integer[] < '{1,5}' then
    missing := missing || format('pg_cron 1.5 or later (the sweeper runs every 10 seconds; this database has '
                                 'pg_cron %s: alter extension pg_cron update;)', cron_version);
  end if;
  if to_regprocedure('extensions.hmac(bytea,bytea,text)') is null then
    missing := missing || 'pgcrypto (the webhook signature: create extension if not exists pgcrypto with schema '
                          'extensions;)'::text;
  end if;
  if to_regprocedure('extensions.jsonb_matches_schema(json,jsonb)') is null
     or to_regprocedure('extensions.jsonschema_validation_errors(json,json)') is null then
    missing := missing || 'pg_jsonschema 0.3 or later (the payload check: create extension if not exists '
                          'pg_jsonschema with schema extensions;)'::text;
  end if;
  if to_regclass('vault.decrypted_secrets') is null
     or not exists (select from pg_proc where pronamespace = to_regnamespace('vault') and proname = 'create_secret') then
    missing := missing || 'Supabase Vault (the webhook secret: create extension if not exists supabase_vault;)'::text;
  end if;
  if (select count(*) from pg_roles where rolname in ('anon', 'authenticated', 'service_role')) < 3 then
    missing := missing || 'the Supabase roles anon, authenticated and service_role'::text;
  end if;
  if not exists (select from pg_publication where pubname = 'supabase_realtime') then
    missing := missing || 'the publication supabase_realtime (create publication supabase_realtime;)'::text;
  end if;
  if cardinality(missing) > 0 then
    raise exception 'test_queue cannot be installed, this database lacks: %', array_to_string(missing, '; ')
      using hint = 'On Supabase enable the extensions under Database > Extensions (or run the statements '
                   'shown), then provision again. Locally, start the stack with `python -m supabase_local start`.';
  end if;
end
$$;
