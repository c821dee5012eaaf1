"""The SQL excerpt reader: blocks found by what they define, whatever line they are on, and the stored body."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobqueue.sql_excerpts import ExcerptNotFound, function_source, policy_source, statement, trigger_source

FIRST = """-- a comment
create or replace function app.greet(name text)
returns text
language sql
as $$
  select 'hello ' || name
$$;

create or replace trigger greet_trigger
after insert on app.people
for each row execute function app.on_insert();
"""
SECOND = """do $$
begin
    create policy people_read on app.people for select to anon using (true);
end
$$;
create or replace function greet(name text)
returns text
language sql
as $$
  select 'hi ' || name
$$;
"""


@pytest.fixture
def sql_dir(tmp_path: Path) -> Path:
    (tmp_path / "010_first.sql").write_text(FIRST)
    (tmp_path / "020_second.sql").write_text(SECOND)
    return tmp_path


def test_a_function_is_found_by_qualified_name_with_its_lines_and_body(sql_dir: Path):
    excerpt = function_source("app.greet", sql_dir)
    assert (excerpt.file, excerpt.first, excerpt.last) == ("010_first.sql", 2, 7)
    assert excerpt.text.startswith("create or replace function app.greet(name text)") and excerpt.text.endswith("$$;")
    assert excerpt.body == "\n  select 'hello ' || name\n"
    assert excerpt.where == "supabase/migrations/010_first.sql, lines 2-7"


def test_an_unqualified_name_takes_the_last_definition_as_the_database_would(sql_dir: Path):
    assert function_source("greet", sql_dir).file == "020_second.sql"


def test_a_name_is_not_a_prefix_match(sql_dir: Path):
    with pytest.raises(ExcerptNotFound, match="gree"):
        function_source("app.gree", sql_dir)


def test_statements_end_at_their_semicolon_and_lose_their_indent(sql_dir: Path):
    trigger = trigger_source("greet_trigger", sql_dir)
    assert trigger.text.splitlines()[-1] == "for each row execute function app.on_insert();"
    policy = policy_source("people_read", sql_dir)
    assert policy.text == "create policy people_read on app.people for select to anon using (true);"
    assert policy.where == "supabase/migrations/020_second.sql, line 3"
    found = statement("create  policy people_read", sql_dir)
    assert (found.file, found.first, found.text) == (policy.file, policy.first, policy.text)


def test_an_unclosed_block_is_reported(tmp_path: Path):
    (tmp_path / "001.sql").write_text("create or replace function f()\nreturns int as $$ select 1")
    with pytest.raises(ExcerptNotFound, match="never closes"):
        function_source("f", tmp_path)


@pytest.mark.parametrize("name", ["submit_job", "jobqueue_private.deliver", "jobqueue_private.on_work_queue_insert",
                                  "mark_job_processing"])
def test_the_project_functions_notebook_01_shows_are_found(name: str):
    excerpt = function_source(name)
    assert name.rpartition(".")[2] in excerpt.text.splitlines()[0]
    assert excerpt.body.strip().startswith(("declare", "begin", "#variable_conflict"))


def test_the_excerpt_renders_as_highlighted_html_and_plain_text():
    excerpt = policy_source("job_results_read")
    html = excerpt._repr_html_()
    assert "<span" in html and "supabase/migrations/20261205080200_job_results.sql" in html
    assert str(excerpt).startswith("-- supabase/migrations/20261205080200_job_results.sql, line")
