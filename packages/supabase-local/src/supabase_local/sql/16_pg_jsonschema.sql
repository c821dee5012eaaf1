-- unless-extension-available: pg_jsonschema, else create it in extensions
-- A stand-in for pg_jsonschema, under its names and signatures in `extensions`, where hosted Supabase installs
-- it: jsonb_matches_schema(schema json, instance jsonb), json_matches_schema(schema json, instance json) and
-- jsonschema_validation_errors(schema json, instance json) returns text[]. It checks the keywords a typed payload
-- model needs: type (a name or a list), enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum (as
-- numbers), minLength, maxLength, pattern (a POSIX regular expression, unanchored, as JSON Schema's is),
-- properties, required, additionalProperties (false, true or a schema), items (one schema for every item),
-- minItems, maxItems, and boolean schemas. Annotations are ignored (title, description, default, examples,
-- format, $schema, $id, $comment, deprecated, readOnly, writeOnly). Any other keyword (anyOf, $ref, ...) is
-- refused by name rather than ignored, so the stand-in never accepts what the real extension would refuse.

-- Every problem of one value, each naming where it is: a field by its name ("name", "address.city"), an item by
-- its position ("tags[2]"), the whole value as "the value".
create or replace function extensions._jsonschema_problems(schema jsonb, value jsonb, path text)
returns text[]
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
  unknown text;
  actual text := pg_catalog.jsonb_typeof(value);
  number numeric := case when pg_catalog.jsonb_typeof(value) = 'number' then (value #>> '{}')::numeric end;
  wanted text[];
  problems text[] := '{}';
  key text;
  item jsonb;
  position integer := 0;
  here text := coalesce(nullif(path, ''), 'the value');
  inside text := case when path = '' then '' else path || '.' end;
begin
  if schema = 'true'::jsonb then
    return problems;
  elsif schema = 'false'::jsonb then
    return array[pg_catalog.format('%s is not allowed', here)];
  elsif pg_catalog.jsonb_typeof(schema) <> 'object' then
    raise exception 'a JSON Schema is an object or a boolean, not %', schema using errcode = '22023';
  end if;
  select k into unknown from pg_catalog.jsonb_object_keys(schema) as k
  where k <> all (array['type', 'enum', 'const', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
                        'minLength', 'maxLength', 'pattern', 'properties', 'required', 'additionalProperties',
                        'items', 'minItems', 'maxItems', 'title', 'description', 'default', 'examples', 'format',
                        '$schema', '$id', '$comment', 'deprecated', 'readOnly', 'writeOnly'])
  order by k limit 1;
  if unknown is not null then
    raise exception 'the JSON Schema keyword % is not supported by the embedded stand-in for pg_jsonschema', unknown
      using errcode = '0A000',
            hint = 'use the real pg_jsonschema, or a schema of the keywords listed in 16_pg_jsonschema.sql';
  end if;

  if schema ? 'type' then
    wanted := case when pg_catalog.jsonb_typeof(schema -> 'type') = 'array'
                   then array(select pg_catalog.jsonb_array_elements_text(schema -> 'type'))
                   else array[schema ->> 'type'] end;
    if not (actual = any(wanted)
            or (actual = 'number' and 'integer' = any(wanted) and number = pg_catalog.trunc(number))) then
      return array[pg_catalog.format('%s must be %s, got %s', here,
        (select pg_catalog.string_agg(case w when 'integer' then 'an integer' when 'array' then 'an array'
                                             when 'object' then 'an object' else 'a ' || w end, ' or ')
         from pg_catalog.unnest(wanted) as w), actual)];
    end if;
  end if;
  if schema ? 'enum' and not exists (select from pg_catalog.jsonb_array_elements(schema -> 'enum') as e(element)
                                     where e.element = value) then
    problems := problems || pg_catalog.format('%s must be one of %s', here, schema ->> 'enum');
  end if;
  if schema ? 'const' and value is distinct from schema -> 'const' then
    problems := problems || pg_catalog.format('%s must be %s', here, schema ->> 'const');
  end if;

  if actual = 'number' then
    if number < (schema ->> 'minimum')::numeric then
      problems := problems || pg_catalog.format('%s must be at least %s, got %s', here, schema ->> 'minimum', number);
    end if;
    if number > (schema ->> 'maximum')::numeric then
      problems := problems || pg_catalog.format('%s must be at most %s, got %s', here, schema ->> 'maximum', number);
    end if;
    if number <= (schema ->> 'exclusiveMinimum')::numeric then
      problems := problems || pg_catalog.format('%s must be more than %s, got %s', here,
                                                schema ->> 'exclusiveMinimum', number);
    end if;
    if number >= (schema ->> 'exclusiveMaximum')::numeric then
      problems := problems || pg_catalog.format('%s must be less than %s, got %s', here,
                                                schema ->> 'exclusiveMaximum', number);
    end if;
  elsif actual = 'string' then
    if pg_catalog.char_length(value #>> '{}') < (schema ->> 'minLength')::integer then
      problems := problems || pg_catalog.format('%s must be at least %s characters long', here,
                                                schema ->> 'minLength');
    end if;
    if pg_catalog.char_length(value #>> '{}') > (schema ->> 'maxLength')::integer then
      problems := problems || pg_catalog.format('%s must be at most %s characters long', here,
                                                schema ->> 'maxLength');
    end if;
    if (value #>> '{}') !~ (schema ->> 'pattern') then
      problems := problems || pg_catalog.format('%s must match the pattern %s', here, schema ->> 'pattern');
    end if;
  elsif actual = 'array' then
    if pg_catalog.jsonb_array_length(value) < (schema ->> 'minItems')::integer then
      problems := problems || pg_catalog.format('%s must have at least %s items', here, schema ->> 'minItems');
    end if;
    if pg_catalog.jsonb_array_length(value) > (schema ->> 'maxItems')::integer then
      problems := problems || pg_catalog.format('%s must have at most %s items', here, schema ->> 'maxItems');
    end if;
    if schema ? 'items' then
      for item in select e from pg_catalog.jsonb_array_elements(value) as e loop
        problems := problems || extensions._jsonschema_problems(schema -> 'items', item,
                                                                pg_catalog.format('%s[%s]', path, position));
        position := position + 1;
      end loop;
    end if;
  elsif actual = 'object' then
    for key in select pg_catalog.jsonb_array_elements_text(coalesce(schema -> 'required', '[]')) loop
      if not value ? key then
        problems := problems || (inside || key || ' is required');
      end if;
    end loop;
    for key, item in select k, v from pg_catalog.jsonb_each(value) as e(k, v) order by k loop
      if coalesce(schema -> 'properties' ? key, false) then
        problems := problems || extensions._jsonschema_problems(schema -> 'properties' -> key, item, inside || key);
      elsif schema -> 'additionalProperties' = 'false'::jsonb then
        problems := problems || pg_catalog.format('%s is not allowed (allowed: %s)', inside || key,
          coalesce((select pg_catalog.string_agg(p, ', ' order by p)
                    from pg_catalog.jsonb_object_keys(schema -> 'properties') as p), 'none'));
      elsif schema ? 'additionalProperties' then
        problems := problems || extensions._jsonschema_problems(schema -> 'additionalProperties', item, inside || key);
      end if;
    end loop;
  end if;
  return problems;
end
$$;

create or replace function extensions.jsonschema_validation_errors(schema json, instance json)
returns text[]
language sql
immutable
strict
parallel safe
set search_path = ''
as $$
  select extensions._jsonschema_problems(schema::jsonb, instance::jsonb, '')
$$;

create or replace function extensions.jsonb_matches_schema(schema json, instance jsonb)
returns boolean
language sql
immutable
strict
parallel safe
set search_path = ''
as $$
  select pg_catalog.cardinality(extensions._jsonschema_problems(schema::jsonb, instance, '')) = 0
$$;

create or replace function extensions.json_matches_schema(schema json, instance json)
returns boolean
language sql
immutable
strict
parallel safe
set search_path = ''
as $$
  select extensions.jsonb_matches_schema(schema, instance::jsonb)
$$;
