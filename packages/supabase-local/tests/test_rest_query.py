"""Unit tests of the query-string parser: PostgREST's grammar for select, filters, logic trees and order, and
a PGRST100 with a clear message for what does not parse."""

from __future__ import annotations

import pytest

from supabase_local.rest.errors import RestError
from supabase_local.rest.query import (
    QUANTIFIABLE,
    SIMPLE_OPERATORS,
    TEXT_SEARCH_OPERATORS,
    Embed,
    Filter,
    Logic,
    OrderItem,
    SelectItem,
    parse_filter,
    parse_filters,
    parse_logic,
    parse_order,
    parse_query,
    parse_select,
)


def refused(call, *args: object) -> RestError:
    """The RestError ``call(*args)`` raises."""
    with pytest.raises(RestError) as err:
        call(*args)
    return err.value


def test_select_plain_renamed_cast_and_quoted():
    assert parse_select('*,label:name,n::text,"odd,name":"a b"::int, x:y::numeric') == (
        SelectItem("*"), SelectItem("name", alias="label"), SelectItem("n", cast="text"),
        SelectItem("a b", alias="odd,name", cast="int"), SelectItem("y", alias="x", cast="numeric"))


def test_empty_select_means_every_column():
    assert parse_select("") == (SelectItem("*"),)


@pytest.mark.parametrize("operator", sorted(SIMPLE_OPERATORS))
@pytest.mark.parametrize("negate", [False, True])
def test_every_simple_operator(operator: str, negate: bool):
    spec = f"{'not.' if negate else ''}{operator}.v.with.dots"
    assert parse_filter("col", spec) == Filter("col", operator, "v.with.dots", negate)


@pytest.mark.parametrize("operator", sorted(QUANTIFIABLE))
@pytest.mark.parametrize("modifier", ["any", "all"])
def test_quantified_operators(operator: str, modifier: str):
    parsed = parse_filter("col", f"not.{operator}({modifier}).{{1,2}}")
    assert (parsed.operator, parsed.modifier, parsed.negate) == (operator, modifier, True)


@pytest.mark.parametrize("operator", sorted(TEXT_SEARCH_OPERATORS))
@pytest.mark.parametrize("negate", [False, True])
def test_text_search_operators_with_and_without_language(operator: str, negate: bool):
    prefix = "not." if negate else ""
    assert parse_filter("doc", f"{prefix}{operator}.fat cats") == Filter("doc", operator, "fat cats", negate)
    assert parse_filter("doc", f"{prefix}{operator}(english).cats") == Filter("doc", operator, "cats", negate,
                                                                             "english")


def test_like_stars_become_percent_signs():
    assert parse_filter("name", "like.*a*").value == "%a%"
    assert parse_filter("name", "not.ilike.A*").value == "A%"


@pytest.mark.parametrize(("raw", "expected"), [("null", "null"), ("NOT_NULL", "not_null"), ("true", "true"),
                                               ("False", "false"), ("unknown", "unknown")])
@pytest.mark.parametrize("negate", [False, True])
def test_is(raw: str, expected: str, negate: bool):
    assert parse_filter("n", f"{'not.' if negate else ''}is.{raw}") == Filter("n", "is", expected, negate)


def test_in_with_quoted_values_commas_and_escapes():
    assert parse_filter("a", 'in.("a,b",c,"d\\"e",(x))') == Filter("a", "in", ("a,b", "c", 'd"e', "(x)"))
    assert parse_filter("a", "not.in.(1,2)") == Filter("a", "in", ("1", "2"), negate=True)
    assert parse_filter("a", "in.()") == Filter("a", "in", ())


def test_top_level_values_are_taken_as_sent():
    assert parse_filter("a", 'eq."quoted"').value == '"quoted"'


def test_nested_or_and_trees():
    tree = parse_logic("or", '(a.eq.1,and(b.gt.2,not.or(c.is.null,d.like.*x*)),"e.f".eq."1,2",g.not.in.(3,4))')
    assert tree == Logic("or", (
        Filter("a", "eq", "1"),
        Logic("and", (Filter("b", "gt", "2"),
                      Logic("or", (Filter("c", "is", "null"), Filter("d", "like", "%x%")), negate=True))),
        Filter("e.f", "eq", "1,2"),
        Filter("g", "in", ("3", "4"), negate=True)))


def test_negated_top_level_trees():
    query = parse_query([("not.and", "(a.eq.1,b.eq.2)"), ("not.or", "(c.eq.3)")])
    assert query.conditions == [Logic("and", (Filter("a", "eq", "1"), Filter("b", "eq", "2")), negate=True),
                                Logic("or", (Filter("c", "eq", "3"),), negate=True)]


def test_order_with_directions_and_nulls():
    assert parse_order('a.desc.nullslast,b,"c.d".nullsfirst,e.asc') == (
        OrderItem("a", descending=True, nulls="last"), OrderItem("b"), OrderItem("c.d", nulls="first"),
        OrderItem("e"))


def test_reserved_parameters_and_the_rest():
    query = parse_query([("select", "a"), ("a", "eq.1"), ("limit", "5"), ("offset", "2"),
                         ("on_conflict", '"x",y'), ("columns", 'a,"b c"')])
    assert (query.select, query.limit, query.offset, query.on_conflict, query.columns) == (
        (SelectItem("a"),), 5, 2, ("x", "y"), ("a", "b c"))
    assert query.params == [("a", "eq.1")] and query.conditions == []


def test_quoted_filter_column_may_hold_a_dot():
    assert parse_filters([('"a.b"', "eq.1")]) == [Filter("a.b", "eq", "1")]


@pytest.mark.parametrize(("spec", "details"), [
    ("zz.1", 'unknown operator "zz"'),
    ("noop", 'expecting "not" or an operator'),
    ("in.1,2", "in expects a parenthesised list"),
    ("in(any).(1)", "in expects a parenthesised list"),
    ("is.maybe", "is expects null, not_null, true, false or unknown"),
    ("eq(foo).1", 'unexpected modifier "foo"'),
    ("is(any).null", "is expects null"),
    ("in.(a,\"b)", "unbalanced quotes or parentheses"),
])
def test_malformed_filters(spec: str, details: str):
    error = refused(parse_filter, "a", spec)
    assert (error.status, error.code) == (400, "PGRST100")
    assert error.message == f'"failed to parse filter ({spec})"'
    assert details in (error.details or "")


@pytest.mark.parametrize(("pairs", "message", "details"), [
    ([("limit", "x")], "limit parameter (x)", "non-negative integer"),
    ([("offset", "-1")], "offset parameter (-1)", "non-negative integer"),
    ([("order", "a.up")], "order (a.up)", 'unexpected "up"'),
    ([("order", ".desc")], "order (.desc)", "expecting a column name"),
    ([("or", "a.eq.1")], "logic tree (a.eq.1)", 'expecting "("'),
    ([("and", "(a)")], "logic tree (a)", "expecting column.operator.value"),
    ([("or", "(a.eq.1,b.zz.2)")], "filter (zz.2)", 'unknown operator "zz"'),
    ([("select", "a::bad-type")], "select (a::bad-type)", 'invalid cast "bad-type"'),
    ([("select", "a)")], "select (a))", 'unexpected ")" at position 2'),
    ([("columns", "a,,b")], "columns (a,,b)", "column names separated by commas"),
    ([("on_conflict", '"x')], 'on_conflict ("x)', "unbalanced quotes"),
])
def test_malformed_query_parameters(pairs: list[tuple[str, str]], message: str, details: str):
    error = refused(parse_query, pairs)
    assert (error.status, error.code, error.message) == (400, "PGRST100", f'"failed to parse {message}"')
    assert details in (error.details or "")


def test_embeds_with_alias_hints_inner_spread_and_nesting():
    assert parse_select("name,c:cities!cities_country_fkey!inner(name,...regions(r:name)),e()") == (
        SelectItem("name"),
        Embed("cities", (SelectItem("name"), Embed("regions", (SelectItem("name", alias="r"),), spread=True)),
              alias="c", hint="cities_country_fkey", inner=True),
        Embed("e", ()))


def test_json_paths_in_select_filters_and_order():
    assert parse_select("data->a->>b,x:data->>c::int,data->0") == (
        SelectItem("data", path=(("->", "a"), ("->>", "b"))),
        SelectItem("data", alias="x", cast="int", path=(("->>", "c"),)),
        SelectItem("data", path=(("->", "0"),)))
    assert [item.output for item in parse_select("data->a->>b,x:data->>c,data->0")] == ["b", "x", "data"]
    assert parse_filters([("data->>kind", "eq.x")]) == [Filter("data", "eq", "x", path=(("->>", "kind"),))]
    assert parse_order("data->n.desc") == (OrderItem("data", descending=True, path=(("->", "n"),)),)


def test_logic_trees_accept_in_lists_arrays_and_quoted_commas():
    tree = parse_logic("or", '(id.in.(1,4),tags.cs.{is:open,priority:high},name.eq."a,b",data->>k.eq.1)')
    assert tree == Logic("or", (Filter("id", "in", ("1", "4")), Filter("tags", "cs", "{is:open,priority:high}"),
                                Filter("name", "eq", "a,b"), Filter("data", "eq", "1", path=(("->>", "k"),))))


def test_scoped_parameters_go_to_their_embedded_resource():
    query = parse_query([("cities.name", "eq.x"), ("cities.or", "(id.eq.1)"), ("cities.order", "name.desc"),
                         ("cities.limit", "2"), ("cities.offset", "1"), ("a.b.not.and", "(c.eq.1)"),
                         ('"x.y"', "eq.1")])
    cities = query.embedded[("cities",)]
    assert cities.conditions == [Filter("name", "eq", "x"), Logic("or", (Filter("id", "eq", "1"),))]
    assert (cities.order, cities.limit, cities.offset) == ((OrderItem("name", descending=True),), 2, 1)
    assert query.embedded[("a", "b")].conditions == [Logic("and", (Filter("c", "eq", "1"),), negate=True)]
    assert query.params == [('"x.y"', "eq.1")]
