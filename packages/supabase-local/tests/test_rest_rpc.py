"""Functions through ``rpc()``: every result shape, GET and POST, overloads, filters and raised errors."""
# ruff: noqa: F811 - fixtures imported from rest_support are redefined as test parameters

from __future__ import annotations

import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import AsyncClient, Client

from stack_support.rest import aservice, rest_schema, service, tag  # noqa: F401

pytestmark = pytest.mark.timeout(60)


def test_scalar(service: Client):
    assert service.rpc("rest_scalar", {}).execute().data == 42


def test_named_arguments_and_defaults(service: Client):
    assert service.rpc("rest_add", {"a": 2}).execute().data == 3
    assert service.rpc("rest_add", {"a": 2, "b": 5}).execute().data == 7


def test_overload_chosen_by_argument_names(service: Client):
    assert service.rpc("rest_add", {"a": 2, "c": "x"}).execute().data == "x2"


def test_get_passes_query_arguments_read_only(service: Client):
    assert service.rpc("rest_add", {"a": 4, "b": 1}, get=True).execute().data == 5
    assert service.rpc("rest_claims", {}, get=True).execute().data["read_only"] == "on"
    assert service.rpc("rest_claims", {}).execute().data["read_only"] == "off"


def test_get_refuses_writes(service: Client, tag: str):
    with pytest.raises(APIError) as err:
        service.rpc("rest_void", {"p_tag": tag}, get=True).execute()
    assert err.value.code == "25006"
    assert service.table("rest_probe").select("name").eq("tag", tag).execute().data == []


def test_setof_scalar(service: Client):
    assert service.rpc("rest_series", {"upto": 3}).execute().data == [1, 2, 3]


def test_setof_composite_with_filters_and_order(service: Client, tag: str):
    service.table("rest_probe").insert([{"tag": tag, "name": f"r{i}", "n": i} for i in range(4)]).execute()
    data = service.rpc("rest_rows", {"p_tag": tag}).select("name").gte("n", 1).order("n", desc=True).limit(2) \
        .execute().data
    assert data == [{"name": "r3"}, {"name": "r2"}]


def test_count_with_a_page_calls_a_volatile_function_once(service: Client, tag: str):
    """Counting the rows behind a page must not run the function a second time: it inserts a row per call."""
    result = service.rpc("rest_counted_calls", {"p_tag": tag, "upto": 5}, count="exact").range(1, 2).execute()
    assert (result.data, result.count) == ([2, 3], 5)
    assert len(service.table("rest_probe").select("name").eq("tag", tag).execute().data) == 1


def test_count_of_filtered_composite_rows_with_a_limit(service: Client, tag: str):
    service.table("rest_probe").insert([{"tag": tag, "name": f"r{i}", "n": i} for i in range(5)]).execute()
    result = service.rpc("rest_rows", {"p_tag": tag}, count="exact").select("name").gte("n", 1).order("n") \
        .limit(2).execute()
    assert (result.data, result.count) == ([{"name": "r1"}, {"name": "r2"}], 4)


def test_composite_is_an_object(service: Client, tag: str):
    service.table("rest_probe").insert({"tag": tag, "name": "one", "n": 1}).execute()
    data = service.rpc("rest_row", {"p_tag": tag, "p_name": "one"}).execute().data
    assert isinstance(data, dict) and data["name"] == "one" and data["n"] == 1


def test_out_parameters_make_an_object(service: Client):
    assert service.rpc("rest_pair", {"x": 3}).execute().data == {"doubled": 6, "squared": 9}


def test_void_returns_no_content(service: Client, tag: str):
    assert service.rpc("rest_void", {"p_tag": tag}).execute().data == []
    assert service.table("rest_probe").select("name").eq("tag", tag).execute().data == [{"name": "from-void"}]


def test_jsonb_argument_round_trips(service: Client):
    payload = {"nested": {"list": [1, 2, None], "text": "a'b\"c"}}
    assert service.rpc("rest_echo", {"payload": payload}).execute().data == payload


def test_raise_exception_comes_through_as_postgrest_error(service: Client):
    assert service.rpc("rest_validate", {"task": "abc"}).execute().data == "ABC"
    with pytest.raises(APIError) as err:
        service.rpc("rest_validate", {"task": "much too long"}).execute()
    assert (err.value.code, err.value.message, err.value.details, err.value.hint) == (
        "22023", "task name too long", "at most 5 characters", "use a shorter name")
    with pytest.raises(APIError) as plain:
        service.rpc("rest_raise", {}).execute()
    assert plain.value.code == "P0001" and plain.value.message == "plain raise"


def test_unknown_function_and_arguments(service: Client):
    with pytest.raises(APIError) as missing:
        service.rpc("rest_nope", {"x": 1}).execute()
    assert missing.value.code == "PGRST202"
    assert missing.value.message == "Could not find the function public.rest_nope(x) in the schema cache"
    with pytest.raises(APIError) as wrong_args:
        service.rpc("rest_add", {"zz": 1}).execute()
    assert wrong_args.value.code == "PGRST202"


def test_pgmq_public_schema(service: Client, db: psycopg.Connection):
    db.execute("select pgmq.create('rest_probe_q')")
    queue = service.schema("pgmq_public")
    sent = queue.rpc("send", {"queue_name": "rest_probe_q", "message": {"k": 1}, "sleep_seconds": 0}).execute()
    assert isinstance(sent.data, list) and sent.data[0] > 0
    popped = queue.rpc("pop", {"queue_name": "rest_probe_q"}).execute().data
    assert popped[0]["message"] == {"k": 1}


async def test_async_rpc(aservice: AsyncClient):
    assert (await aservice.rpc("rest_add", {"a": 1}).execute()).data == 2
    assert (await aservice.rpc("rest_series", {"upto": 2}, get=True).execute()).data == [1, 2]
