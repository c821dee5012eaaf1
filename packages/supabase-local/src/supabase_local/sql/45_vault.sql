-- unless-extension-available: supabase_vault
-- A stand-in for Supabase Vault: the `vault` schema with Vault's table, view and functions, owned by
-- supabase_admin, usable by postgres as on a hosted project. Hosted Vault encrypts `secret` with a key
-- the database never shows; this server has neither pgsodium nor pgcrypto, so the stand-in stores the
-- secret base64-encoded: hidden from casual reads and from the API roles, but NOT encrypted at rest.
create schema if not exists vault;
revoke all on schema vault from public;

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea,
  created_at timestamptz not null default current_timestamp,
  updated_at timestamptz not null default current_timestamp
);
comment on table vault.secrets is 'Secrets; the embedded stack stores them base64-encoded, not encrypted.';
create unique index if not exists secrets_name_idx on vault.secrets (name) where name is not null;

create or replace function vault._encode(plain text)
  returns text
  language sql
  immutable
  set search_path = ''
as $$
  select pg_catalog.encode(pg_catalog.convert_to(plain, 'UTF8'), 'base64');
$$;

create or replace view vault.decrypted_secrets as
  select s.id, s.name, s.description, s.secret,
         pg_catalog.convert_from(pg_catalog.decode(s.secret, 'base64'), 'UTF8') as decrypted_secret,
         s.key_id, s.nonce, s.created_at, s.updated_at
  from vault.secrets s;

create or replace function vault.create_secret(new_secret text, new_name text default null,
                                               new_description text default '', new_key_id uuid default null)
  returns uuid
  language plpgsql
  security definer
  set search_path = ''
as $$
declare
  id uuid;
begin
  insert into vault.secrets (secret, name, description, key_id)
  values (vault._encode(new_secret), new_name, coalesce(new_description, ''), new_key_id)
  returning secrets.id into id;
  return id;
end;
$$;

create or replace function vault.update_secret(secret_id uuid, new_secret text default null,
                                               new_name text default null, new_description text default null,
                                               new_key_id uuid default null)
  returns void
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  update vault.secrets s
  set secret = coalesce(vault._encode(new_secret), s.secret),
      name = coalesce(new_name, s.name),
      description = coalesce(new_description, s.description),
      key_id = coalesce(new_key_id, s.key_id),
      updated_at = current_timestamp
  where s.id = secret_id;
end;
$$;

revoke all on all functions in schema vault from public;
revoke all on all tables in schema vault from public, anon, authenticated, service_role;
grant usage on schema vault to postgres with grant option;
grant select, delete on vault.secrets to postgres with grant option;
grant select on vault.decrypted_secrets to postgres with grant option;
grant execute on function vault.create_secret(text, text, text, uuid), vault.update_secret(uuid, text, text, text, uuid)
  to postgres with grant option;
