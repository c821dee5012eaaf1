"""Property: whatever body, query or token a caller sends to ``/auth/v1``, the answer is never a 5xx, and every
refusal carries GoTrue's error shape. Each example comes from its own loopback address, so the per-address limits
answer 429 only where a test means them to. FUZZ_EXAMPLES raises the count (``make fuzz``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack_support.auth import auth_call
from stack_support.fuzz import FUZZ, json_values
from supabase_local.state import StackState

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]

_text = st.text(max_size=30) | st.sampled_from(["", " ", "a\x00b", "\ud800", "x" * 300, "é@example.com",
                                                "ada@example.com", "ADA@EXAMPLE.COM", "no-at-sign", "a@b",
                                                "correct horse", "abc", "y" * 73, str(uuid.UUID(int=0))])
_field = _text | json_values
_bodies = st.fixed_dictionaries({}, optional={
    "email": _field, "phone": _field, "password": _field, "data": json_values | st.dictionaries(_text, json_values),
    "refresh_token": _field | st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=12),
    "user_metadata": json_values, "app_metadata": json_values, "email_confirm": json_values, "role": _field,
    "ban_duration": _field | st.sampled_from(["1h", "none", "1.5h30m", "-1h", "h", "99999999999h"]),
    "id": _field | st.uuids().map(str), "should_soft_delete": json_values,
}) | json_values
_endpoints = st.sampled_from([
    ("POST", "signup", None), ("POST", "token", "password"), ("POST", "token", "refresh_token"),
    ("POST", "token", "other"), ("PUT", "user", None), ("GET", "user", None), ("POST", "logout", None),
    ("POST", "admin/users", None), ("GET", "admin/users", None), ("PUT", "admin/users/{user}", None),
    ("DELETE", "admin/users/{user}", None), ("GET", "admin/users/{raw}", None),
])
_queries = st.dictionaries(st.sampled_from(["page", "per_page", "scope", "grant_type"]),
                           st.text(max_size=12) | st.sampled_from(["0", "1", "-1", "99999999999999999999", "local",
                                                                   "others", "global"]), max_size=2)
_addresses = st.tuples(st.integers(1, 250), st.integers(1, 250), st.integers(2, 250))


@pytest.fixture(scope="module")
def signed_in(stack: StackState) -> dict[str, Any]:
    answer = auth_call(stack, "POST", "signup", json={"email": f"fuzz-{uuid.uuid4().hex[:10]}@example.com",
                                                      "password": "correct horse"}, source="127.0.0.77")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _raw(body: object) -> bytes | None:
    try:
        return json.dumps(body).encode()
    except (TypeError, ValueError):
        return None


@FUZZ
@given(endpoint=_endpoints, body=_bodies | st.binary(max_size=40), query=_queries, as_admin=st.booleans(),
       raw=st.text(max_size=20), address=_addresses)
def test_no_auth_request_gets_a_5xx(stack: StackState, signed_in: dict[str, Any], endpoint: tuple[str, str, Any],
                                    body: object, query: dict[str, str], as_admin: bool, raw: str,
                                    address: tuple[int, int, int]) -> None:
    method, path, grant = endpoint
    path = path.format(user=signed_in["user"]["id"], raw=raw.replace("/", "").replace("?", "") or "x")
    if grant is not None:
        query = {**query, "grant_type": grant}
    token = stack.service_role_key if as_admin and path.startswith("admin") else signed_in["access_token"]
    content = body if isinstance(body, bytes) else _raw(body)
    source = "127.{}.{}.{}".format(*address)
    try:
        answer = auth_call(stack, method, path, token=token, source=source, params=query, content=content,
                           extra_headers={"Content-Type": "application/json"})
    except httpx.InvalidURL:
        return
    assert answer.status_code < 500, (method, path, query, body, answer.text)
    if answer.status_code >= 400 and answer.headers.get("content-type") == "application/json":
        error = answer.json()
        assert set(error) >= {"code", "message"} and answer.headers["x-sb-error-code"] == error["code"]
