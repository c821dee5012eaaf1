"""Fixtures shared by the REST tests: probe tables, policies and functions of every result shape."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from supabase import AsyncClient, Client, acreate_client, create_client

from supabase_local.state import StackState

PROBE_SQL = """
drop table if exists rest_probe cascade;
create table rest_probe (
  id bigint generated always as identity primary key,
  tag text not null,
  name text not null,
  n int,
  data jsonb,
  owner text not null default 'anon',
  created_at timestamptz not null default now(),
  unique (tag, name)
);
alter table rest_probe enable row level security;
create policy anon_reads_own on rest_probe for select to anon using (owner = 'anon');
create policy anon_inserts_own on rest_probe for insert to anon with check (owner = 'anon');
revoke update, delete on rest_probe from anon;

drop table if exists rest_secret;
create table rest_secret (id int primary key, secret text);
revoke all on rest_secret from anon, authenticated;
insert into rest_secret values (1, 'hidden');

create or replace view rest_probe_names as select tag, name from rest_probe;

create or replace function rest_scalar() returns int language sql as $$ select 42 $$;
create or replace function rest_add(a int, b int default 1) returns int language sql as $$ select a + b $$;
create or replace function rest_add(a int, c text) returns text language sql as $$ select c || a $$;
create or replace function rest_series(upto int) returns setof int language sql as $$
  select generate_series(1, upto) $$;
create or replace function rest_rows(p_tag text) returns setof rest_probe language sql stable as $$
  select * from rest_probe where tag = p_tag order by id $$;
create or replace function rest_row(p_tag text, p_name text) returns rest_probe language sql stable as $$
  select * from rest_probe where tag = p_tag and name = p_name $$;
create or replace function rest_pair(x int, out doubled int, out squared int) language sql as $$
  select x * 2, x * x $$;
create or replace function rest_void(p_tag text) returns void language sql as $$
  insert into rest_probe (tag, name) values (p_tag, 'from-void') $$;
create or replace function rest_counted_calls(p_tag text, upto int) returns setof int language sql as $$
  insert into rest_probe (tag, name) values (p_tag, 'call-' || gen_random_uuid());
  select generate_series(1, upto) $$;
create or replace function rest_setting(name text) returns text language sql stable as $$
  select current_setting(name) $$;
create or replace function rest_sleep(seconds float8) returns int language sql as $$
  select 1 from pg_sleep(seconds) $$;
create or replace function rest_echo(payload jsonb) returns jsonb language sql as $$ select payload $$;
create or replace function rest_claims() returns jsonb language sql stable as $$
  select jsonb_build_object('role', current_user, 'claims', current_setting('request.jwt.claims', true)::jsonb,
                            'claim_role', current_setting('request.jwt.claim.role', true),
                            'method', current_setting('request.method', true),
                            'path', current_setting('request.path', true),
                            'read_only', current_setting('transaction_read_only')) $$;
create or replace function rest_validate(task text) returns text language plpgsql as $$
begin
  if length(task) > 5 then
    raise exception 'task name too long' using errcode = '22023', detail = 'at most 5 characters',
      hint = 'use a shorter name';
  end if;
  return upper(task);
end $$;
create or replace function rest_raise() returns int language plpgsql as $$
begin raise exception 'plain raise'; end $$;
revoke execute on function rest_scalar() from public, anon;
"""


@pytest.fixture(scope="session")
def rest_schema(stack: StackState) -> Iterator[None]:
    """The probe objects, created once (the gateway's schema cache finds them on first use)."""
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(PROBE_SQL)
    yield


@pytest.fixture(scope="session")
def service(stack: StackState, rest_schema: None) -> Client:
    """A sync client with the service-role key (BYPASSRLS, as on Supabase)."""
    return create_client(stack.supabase_url, stack.service_role_key)


@pytest.fixture(scope="session")
def anon(stack: StackState, rest_schema: None) -> Client:
    """A sync client with the anon key: grants and RLS policies decide."""
    return create_client(stack.supabase_url, stack.anon_key)


@pytest.fixture(scope="session")
async def aservice(stack: StackState, rest_schema: None) -> AsyncClient:
    """The async client the notebooks use."""
    return await acreate_client(stack.supabase_url, stack.service_role_key)


@pytest.fixture
def tag() -> str:
    """A tag unique to one test, so tests never see each other's rows."""
    return uuid.uuid4().hex[:12]
