-- Until this migration the schema was kept as numbered files that provisioning re-applied and recorded in its
-- own table, and it carried its own HMAC-SHA256 and JSON Schema checker for platforms without pgcrypto and
-- pg_jsonschema. The files are now Supabase CLI migrations recorded in supabase_migrations.schema_migrations,
-- and the functions above call pgcrypto's hmac() and pg_jsonschema's jsonb_matches_schema() as hosted Supabase
-- offers them. A database provisioned before keeps the old pieces until this removes them; on a new database it
-- finds nothing to remove.
drop function if exists jobqueue_private.hmac_sha256(bytea, bytea);
drop function if exists jobqueue_private.schema_violation(jsonb, jsonb, text);
drop table if exists jobqueue_private.schema_migrations;
