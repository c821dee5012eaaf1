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

-- The first problem of a JSON value against a JSON Schema, or null when it conforms. It understands the
-- keywords a typed payload model needs (type, properties, required, additionalProperties: false, enum, const,
-- minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern, items, minItems, maxItems)
-- and ignores the rest (title, description, default, ...). Written in plpgsql because pg_jsonschema may be absent.
create or replace function jobqueue_private.schema_violation(schema jsonb, value jsonb, path text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  wanted text := schema ->> 'type';
  actual text := jsonb_typeof(value);
  key text;
  problem text;
  item jsonb;
  position integer := 0;
begin
  if wanted is not null and not (
       actual = wanted
       or (wanted = 'integer' and actual = 'number' and value::text::numeric = trunc(value::text::numeric))
       or (wanted = 'number' and actual = 'number')) then
    return format('%s must be %s, got %s', path, case when wanted = 'integer' then 'an integer' else 'a ' || wanted end,
                  case when actual = 'null' then 'null' else actual end);
  end if;
  if schema ? 'enum' and not (schema -> 'enum') @> jsonb_build_array(value) then
    return format('%s must be one of %s', path, schema ->> 'enum');
  end if;
  if schema ? 'const' and value <> schema -> 'const' then
    return format('%s must be %s', path, schema ->> 'const');
  end if;
  if actual = 'number' then
    if schema ? 'minimum' and value::text::numeric < (schema ->> 'minimum')::numeric then
      return format('%s must be at least %s, got %s', path, schema ->> 'minimum', value);
    end if;
    if schema ? 'maximum' and value::text::numeric > (schema ->> 'maximum')::numeric then
      return format('%s must be at most %s, got %s', path, schema ->> 'maximum', value);
    end if;
    if schema ? 'exclusiveMinimum' and value::text::numeric <= (schema ->> 'exclusiveMinimum')::numeric then
      return format('%s must be more than %s, got %s', path, schema ->> 'exclusiveMinimum', value);
    end if;
    if schema ? 'exclusiveMaximum' and value::text::numeric >= (schema ->> 'exclusiveMaximum')::numeric then
      return format('%s must be less than %s, got %s', path, schema ->> 'exclusiveMaximum', value);
    end if;
  elsif actual = 'string' then
    if schema ? 'minLength' and char_length(value #>> '{}') < (schema ->> 'minLength')::integer then
      return format('%s must be at least %s characters long', path, schema ->> 'minLength');
    end if;
    if schema ? 'maxLength' and char_length(value #>> '{}') > (schema ->> 'maxLength')::integer then
      return format('%s must be at most %s characters long', path, schema ->> 'maxLength');
    end if;
    if schema ? 'pattern' and (value #>> '{}') !~ (schema ->> 'pattern') then
      return format('%s must match the pattern %s', path, schema ->> 'pattern');
    end if;
  elsif actual = 'array' then
    if schema ? 'minItems' and jsonb_array_length(value) < (schema ->> 'minItems')::integer then
      return format('%s must have at least %s items', path, schema ->> 'minItems');
    end if;
    if schema ? 'maxItems' and jsonb_array_length(value) > (schema ->> 'maxItems')::integer then
      return format('%s must have at most %s items', path, schema ->> 'maxItems');
    end if;
    if jsonb_typeof(schema -> 'items') = 'object' then
      for item in select e from jsonb_array_elements(value) as e loop
        problem := jobqueue_private.schema_violation(schema -> 'items', item, format('%s[%s]', path, position));
        if problem is not null then
          return problem;
        end if;
        position := position + 1;
      end loop;
    end if;
  elsif actual = 'object' then
    for key in select jsonb_array_elements_text(coalesce(schema -> 'required', '[]')) loop
      if not value ? key then
        return format('%s.%s is required', path, key);
      end if;
    end loop;
    for key, item in select k, v from jsonb_each(value) as e(k, v) loop
      if schema -> 'properties' ? key then
        problem := jobqueue_private.schema_violation(schema -> 'properties' -> key, item, path || '.' || key);
        if problem is not null then
          return problem;
        end if;
      elsif schema -> 'additionalProperties' = 'false'::jsonb then
        return format('%s.%s is not a field of this job type (fields: %s)', path, key,
                      coalesce((select string_agg(p, ', ' order by p) from jsonb_object_keys(schema -> 'properties') p),
                               'none'));
      end if;
    end loop;
  end if;
  return null;
end
$$;
revoke all on function jobqueue_private.schema_violation(jsonb, jsonb, text) from public, anon, authenticated;
