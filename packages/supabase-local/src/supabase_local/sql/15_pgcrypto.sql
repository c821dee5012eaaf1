-- unless-extension-available: pgcrypto, else create it in extensions
-- A stand-in for pgcrypto's hashing functions, under pgcrypto's names and signatures in `extensions`, where
-- hosted Supabase installs pgcrypto. This server's PostgreSQL is built without OpenSSL, so there is no pgcrypto;
-- the digests come from core (sha224, sha256, sha384, sha512, md5) and HMAC is RFC 2104 over them. Other
-- algorithms (sha1 among them: core has none) are refused by name. Everyone may call them, as on hosted.

create or replace function extensions.digest(data bytea, type text)
returns bytea
language plpgsql
immutable
strict
parallel safe
set search_path = ''
as $$
begin
  case pg_catalog.lower(type)
    when 'sha256' then return pg_catalog.sha256(data);
    when 'sha224' then return pg_catalog.sha224(data);
    when 'sha384' then return pg_catalog.sha384(data);
    when 'sha512' then return pg_catalog.sha512(data);
    when 'md5' then return pg_catalog.decode(pg_catalog.md5(data), 'hex');
    else
      raise exception 'Cannot use "%": No such hash algorithm', type
        using errcode = '39000',
              hint = 'the embedded stand-in for pgcrypto offers md5, sha224, sha256, sha384 and sha512';
  end case;
end
$$;

create or replace function extensions.digest(data text, type text)
returns bytea
language sql
immutable
strict
parallel safe
set search_path = ''
as $$
  select extensions.digest(pg_catalog.convert_to(data, pg_catalog.getdatabaseencoding()), type)
$$;

-- The key, hashed when longer than the block and zero-padded to it, XORed with a repeated byte: one varbit
-- XOR instead of a loop over the bytes (varbit_send gives the bits back as bytes after a 4-byte length).
create or replace function extensions._hmac_pad(key bytea, block integer, pad text)
returns bytea
language sql
immutable
strict
parallel safe
set search_path = ''
as $$
  select pg_catalog.substr(pg_catalog.varbit_send(
    ('x' || pg_catalog.encode(key || pg_catalog.decode(pg_catalog.repeat('00', block - pg_catalog.length(key)), 'hex'),
                              'hex'))::pg_catalog.varbit
    # ('x' || pg_catalog.repeat(pad, block))::pg_catalog.varbit), 5)
$$;

create or replace function extensions.hmac(data bytea, key bytea, type text)
returns bytea
language sql
immutable
strict
parallel safe
set search_path = ''
as $$
  with sized as (
    select case when pg_catalog.lower(type) in ('sha384', 'sha512') then 128 else 64 end as block
  ), keyed as (
    select s.block, case when pg_catalog.length(key) > s.block then extensions.digest(key, type) else key end as k
    from sized s
  )
  select extensions.digest(extensions._hmac_pad(k.k, k.block, '5c')
                           || extensions.digest(extensions._hmac_pad(k.k, k.block, '36') || data, type), type)
  from keyed k
$$;

create or replace function extensions.hmac(data text, key text, type text)
returns bytea
language sql
immutable
strict
parallel safe
set search_path = ''
as $$
  select extensions.hmac(pg_catalog.convert_to(data, pg_catalog.getdatabaseencoding()),
                         pg_catalog.convert_to(key, pg_catalog.getdatabaseencoding()), type)
$$;
