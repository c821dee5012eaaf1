"""The statement splitter cuts a migration where the Supabase CLI's does (supabase/cli pkg/parser), so the
statements provisioning records are the ones ``supabase migration up`` would record."""

from __future__ import annotations

import pytest

from supabase_local.sql_split import split, split_raw


@pytest.mark.parametrize("pieces", [
    ["select 1;", " select 2;", "\n"],
    ["select 1;", " -- a comment to the end of the file"],
    ["select '--;' as text;", " select 2"],
    ["select 'it''s; fine';", " select 2"],
    ['create policy "cats;dogs" on pets;', " select 2"],
    ["select /* a ; /* nested ; */ still ; */ 1;", " select 2"],
    ["do $$ begin perform 1; end $$;", " select 2"],
    ["do $body$ begin perform '$$;'; end $body$;", " select 2"],
    ["select \\;;", " select 2"],
    ["create rule r as on update to t do (notify t; select 1);", " select 2"],
    ["create function f() returns int language sql begin atomic select 1; select 2; end;", " select 3"],
    ["create function atomic_thing() returns void language plpgsql as $$ begin null; end; $$;", " select 3"],
    ["select 'héllo; wörld';", " select 'ü'"],
])
def test_split_cuts_where_the_cli_does(pieces: list[str]):
    assert split_raw("".join(pieces)) == pieces


def test_statements_lose_trailing_semicolons_and_space_but_keep_comments():
    text = "-- header\ncreate table t (id int);;\n\n-- trailing note\n"
    assert split(text) == ["-- header\ncreate table t (id int)", "-- trailing note"]
