"""Property test: whatever a client sends to ``/rest/v1`` (odd filter values, select strings, operators,
headers and bodies, NUL, unpaired surrogates, huge numbers, odd quoting, unicode), the gateway answers with a
status below 500 and stays healthy. A 5xx would make supabase-py and postgrest-js retry a request that can
never succeed. FUZZ_EXAMPLES raises the example count (``make fuzz``)."""
# ruff: noqa: F811 - fixtures imported from rest_support are redefined as test parameters

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack_support.fuzz import FUZZ
from stack_support.rest import rest_schema  # noqa: F401
from supabase_local.state import StackState

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]

FUZZ_SQL = """
drop table if exists rest_fuzz_child, rest_fuzz;
create table rest_fuzz (id int primary key, name text, n int, big numeric, data jsonb, tags text[],
                        span int4range, at timestamptz, flag boolean);
create table rest_fuzz_child (id int primary key, parent_id int references rest_fuzz, label text);
insert into rest_fuzz values (1, 'a', 1, 1.5, '{"k": {"x": 1}}', '{a,b}', '[1,5)', now(), true);
insert into rest_fuzz_child values (1, 1, 'c');
"""
COLUMNS = ["id", "name", "n", "big", "data", "tags", "span", "at", "flag", "nope", "rest_fuzz_child",
           "data->k", "data->>k", "data->k->>x", '"name"', "rest_fuzz_child.label", "rest_fuzz_child.or"]
OPERATORS = ["eq", "neq", "gt", "lt", "gte", "like", "ilike", "match", "in", "is", "cs", "cd", "ov", "sl", "adj",
             "fts", "plfts(english)", "not.eq", "eq(any)", "isdistinct", "zz", ""]
SELECTS = ["*", "id,name", "rest_fuzz_child(*)", "c:rest_fuzz_child!inner(label)", "...rest_fuzz(name)",
           "data->k->>x", "n::text", "x:name", "rest_fuzz_child!nope(*)", "count()", "a(b(c(d)))"]
SPECIAL = ["\x00", "\ud800", "1e400", "99999999999999999999999", "-0", "NaN", '"', '\\"', "(", ")", "{", "}",
           "[", ",", ".", "->", "::", "%", "*", "é", "😀", "\u202e", "null", "'; drop table x; --"]
text = st.one_of(st.text(max_size=30), st.sampled_from(SPECIAL),
                 st.lists(st.sampled_from(SPECIAL), max_size=6).map("".join))
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=40)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, object]:
    """A request: method, query pairs, headers and body."""
    method = draw(st.sampled_from(["GET", "HEAD", "POST", "PATCH", "DELETE"]))
    pairs = []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.one_of(st.sampled_from(COLUMNS), text))
        value = f"{draw(st.sampled_from(OPERATORS))}.{draw(text)}"
        pairs.append((key, value))
    for key in draw(st.lists(st.sampled_from(["select", "order", "limit", "offset", "or", "and", "columns",
                                              "on_conflict"]), max_size=3)):
        composed = draw(st.one_of(st.sampled_from(SELECTS), text,
                                  st.tuples(st.sampled_from(COLUMNS), st.sampled_from(OPERATORS), text).map(
                                      lambda t: f"({t[0]}.{t[1]}.{t[2]})")))
        pairs.append((key, composed))
    headers = {}
    for name in draw(st.lists(st.sampled_from(["Prefer", "Accept", "Range", "Accept-Profile", "Content-Profile"]),
                              max_size=3)):
        headers[name] = draw(st.one_of(header_text, st.sampled_from([
            "count=planned", "count=estimated", "count=exact", "return=representation", "text/csv",
            "application/vnd.pgrst.object+json", "0-99999999999999999999", "5-1", "handling=strict, max-affected=²",
            "resolution=merge-duplicates", "missing=default"])))
    body = draw(st.one_of(
        st.binary(max_size=40),
        st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                         st.sampled_from(COLUMNS[:9]) | text, inner, max_size=3), max_leaves=8).map(
            lambda value: json.dumps(value).encode())))
    # httpx insists on ASCII for str values and h11 refuses values with edge whitespace
    encoded = {name: value.strip().encode("latin-1") for name, value in headers.items()}
    return {"method": method, "params": pairs, "headers": encoded, "body": body}


@pytest.fixture(scope="module")
def fuzz_table(stack: StackState, rest_schema: None) -> Iterator[None]:
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(FUZZ_SQL)
    yield


def _encodable(params: list[tuple[str, str]]) -> bool:
    """httpx sends the URL as UTF-8, which an unpaired surrogate cannot be (such text reaches bodies instead)."""
    try:
        "".join(f"{k}{v}" for k, v in params).encode()
    except UnicodeEncodeError:
        return False
    return True


def test_no_request_gets_a_5xx(stack: StackState, fuzz_table: None):
    key = stack.service_role_key
    base = {"apikey": key, "Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=f"{stack.supabase_url}/rest/v1", timeout=30) as client:

        @FUZZ
        @given(requests())
        def check(request: dict[str, object]) -> None:
            params = request["params"]
            if not _encodable(params):  # type: ignore[arg-type]
                return
            response = client.request(request["method"], "/rest_fuzz", params=params,  # type: ignore[arg-type]
                                      headers={**base, **request["headers"]},  # type: ignore[dict-item]
                                      content=request["body"])  # type: ignore[arg-type]
            assert response.status_code < 500, (request, response.status_code, response.text)
            if response.status_code >= 400 and request["method"] != "HEAD":
                assert set(response.json()) == {"code", "message", "details", "hint"}, response.text

        check()
        healthy = client.get("/rest_fuzz", params={"select": "id", "id": "eq.1"}, headers=base)
        assert healthy.status_code == 200 and healthy.json() == [{"id": 1}]
