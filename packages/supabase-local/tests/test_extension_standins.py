"""The embedded stack's stand-ins for pgcrypto and pg_jsonschema give what the real extensions give: the same
bytes as Python's hashlib and hmac, the same verdicts as the jsonschema package on the keywords they support,
and a refusal by name for what they do not support."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

import jsonschema
import psycopg
import pytest

from stack_support.cli import run_cli
from supabase_local.bootstrap import extension_providers
from supabase_local.testing import as_role, call

KEYS = [b"", b"k", bytes(range(32)), bytes(range(64)), bytes(range(65)), bytes(range(200)) * 2]
MESSAGES = [b"", b"a", "délivery.1733390000.{\"msg_id\": 1}".encode(), bytes(range(256)) * 5]


@pytest.mark.parametrize("algorithm", ["md5", "sha224", "sha256", "sha384", "sha512", "SHA256"])
@pytest.mark.parametrize("key", KEYS, ids=lambda key: f"key{len(key)}")
def test_hmac_equals_python_hmac(db, algorithm: str, key: bytes):
    for message in MESSAGES:
        got = call(db, "select extensions.hmac(%(m)s, %(k)s, %(a)s) as mac",
                   {"m": message, "k": key, "a": algorithm})[0]["mac"]
        assert bytes(got) == hmac.new(key, message, algorithm.lower()).digest()


@pytest.mark.parametrize("algorithm", ["md5", "sha224", "sha256", "sha384", "sha512"])
def test_digest_equals_hashlib(db, algorithm: str):
    for message in MESSAGES:
        got = call(db, "select extensions.digest(%(m)s::bytea, %(a)s) as d", {"m": message, "a": algorithm})[0]["d"]
        assert bytes(got) == hashlib.new(algorithm, message).digest()


def test_the_text_forms_hash_the_text_s_bytes(db):
    row = call(db, "select extensions.digest('héllo', 'sha256') as d, "
                   "extensions.hmac('héllo', 'clé', 'sha256') as mac")[0]
    assert bytes(row["d"]) == hashlib.sha256("héllo".encode()).digest()
    assert bytes(row["mac"]) == hmac.new("clé".encode(), "héllo".encode(), "sha256").digest()


@pytest.mark.parametrize("algorithm", ["sha1", "whirlpool"])
def test_an_algorithm_core_lacks_is_refused_by_name(db, algorithm: str):
    with pytest.raises(psycopg.errors.ExternalRoutineInvocationException, match=f'Cannot use "{algorithm}"'):
        db.execute("select extensions.digest('x'::bytea, %(a)s)", {"a": algorithm})


def test_the_api_roles_may_call_them_as_on_hosted(db):
    with as_role(db, "anon") as cur:
        cur.execute("select extensions.hmac('m', 'k', 'sha256') as mac, "
                    "extensions.jsonb_matches_schema('{\"type\": \"object\"}', '{}') as ok")
        assert cur.fetchone()["ok"] is True


OBJECT = {"type": "object", "additionalProperties": False, "required": ["name"],
          "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
                         "size": {"type": "integer", "minimum": 1, "maximum": 10},
                         "rate": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                         "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
                         "kind": {"enum": ["a", "b", [1, 2]]}, "fixed": {"const": {"x": 1}},
                         "maybe": {"type": ["string", "null"]}, "title": {"title": "T", "description": "d"}}}
OPEN = {"type": "object", "additionalProperties": {"type": "integer"}, "properties": {"name": {"type": "string"}}}
CASES: list[tuple[dict[str, Any] | bool, Any]] = [
    (OBJECT, {"name": "ab"}), (OBJECT, {}), (OBJECT, []), (OBJECT, "x"), (OBJECT, None),
    (OBJECT, {"name": ""}), (OBJECT, {"name": "abcdef"}), (OBJECT, {"name": "AB"}), (OBJECT, {"name": 5}),
    (OBJECT, {"name": "a", "size": 1}), (OBJECT, {"name": "a", "size": 10.0}), (OBJECT, {"name": "a", "size": 2.5}),
    (OBJECT, {"name": "a", "size": 0}), (OBJECT, {"name": "a", "size": 11}), (OBJECT, {"name": "a", "size": True}),
    (OBJECT, {"name": "a", "rate": 0}), (OBJECT, {"name": "a", "rate": 0.5}), (OBJECT, {"name": "a", "rate": 1}),
    (OBJECT, {"name": "a", "tags": []}), (OBJECT, {"name": "a", "tags": ["x"]}), (OBJECT, {"name": "a", "tags": [1]}),
    (OBJECT, {"name": "a", "tags": ["x", "y", "z"]}), (OBJECT, {"name": "a", "kind": "b"}),
    (OBJECT, {"name": "a", "kind": "c"}), (OBJECT, {"name": "a", "kind": [1, 2]}), (OBJECT, {"name": "a", "kind": [1]}),
    (OBJECT, {"name": "a", "fixed": {"x": 1}}), (OBJECT, {"name": "a", "fixed": {"x": 2}}),
    (OBJECT, {"name": "a", "maybe": None}), (OBJECT, {"name": "a", "maybe": 3}), (OBJECT, {"name": "a", "extra": 1}),
    (OBJECT, {"name": "a", "title": [1]}), (OPEN, {"name": "a", "n": 1}), (OPEN, {"name": "a", "n": "1"}),
    (OPEN, {"name": 1}), (True, {"any": "thing"}), (False, {}), ({"type": "array", "items": False}, []),
    ({"type": "array", "items": False}, [1]), ({"minimum": 5}, "not a number"), ({"maxLength": 1}, "ü"),
    ({"maxLength": 1}, "üü"),
]


@pytest.mark.parametrize(("schema", "instance"), CASES)
def test_json_schema_verdicts_equal_the_jsonschema_package(db, schema, instance):
    expected = jsonschema.Draft202012Validator(schema).is_valid(instance)
    row = call(db, "select extensions.jsonb_matches_schema(%(s)s::json, %(i)s::jsonb) as jsonb_ok, "
                   "extensions.json_matches_schema(%(s)s::json, %(i)s::json) as json_ok, "
                   "extensions.jsonschema_validation_errors(%(s)s::json, %(i)s::json) as errors",
               {"s": json.dumps(schema), "i": json.dumps(instance)})[0]
    assert (row["jsonb_ok"], row["json_ok"], row["errors"] == []) == (expected, expected, expected), row["errors"]


def test_the_problems_name_where_they_are(db):
    errors = call(db, "select extensions.jsonschema_validation_errors(%(s)s::json, %(i)s::json) as e",
                  {"s": json.dumps(OBJECT), "i": json.dumps({"size": 0, "tags": [1], "extra": True})})[0]["e"]
    assert errors == ["name is required", "extra is not allowed (allowed: fixed, kind, maybe, name, rate, size, tags, "
                      "title)", "size must be at least 1, got 0", "tags[0] must be a string, got number"]


@pytest.mark.parametrize("keyword", ["anyOf", "$ref", "uniqueItems", "patternProperties"])
def test_an_unsupported_keyword_is_refused_by_name(db, keyword: str):
    schema = {"type": "object", "properties": {"a": {keyword: []}}}
    with pytest.raises(psycopg.errors.FeatureNotSupported, match=f"keyword {re.escape(keyword)} is not supported"):
        db.execute("select extensions.jsonb_matches_schema(%(s)s::json, '{\"a\": 1}')", {"s": json.dumps(schema)})


def test_status_says_which_extensions_are_stand_ins(stack):
    providers = dict(extension_providers(stack.admin_url))
    assert providers["pgcrypto"] == "stand-in (15_pgcrypto.sql)"
    assert providers["pg_jsonschema"] == "stand-in (16_pg_jsonschema.sql)"
    assert providers["pg_cron"] == "stand-in (40_cron.sql)"


def test_the_status_command_prints_them(stack_dir):
    shown = run_cli(stack_dir, "status")
    assert shown.returncode == 0, shown.stderr
    lines = [line.strip() for line in shown.stdout.splitlines()]
    assert "pgcrypto: stand-in (15_pgcrypto.sql)" in lines
    assert "pg_jsonschema: stand-in (16_pg_jsonschema.sql)" in lines
