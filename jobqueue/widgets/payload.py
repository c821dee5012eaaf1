"""The form's payload box: JSON checked as you type against the job type's ``payload_schema``.

The database checks the same schema in ``submit_job`` and refuses with a message naming the field; checking it
here first gives the same answer before anything is sent. Messages follow the database's wording
(``payload.sections must be at most 20``) so the person sees one voice whichever side caught the mistake.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match


@dataclass(frozen=True)
class PayloadCheck:
    """The parsed payload when it fits, else the problem (one sentence naming the field)."""

    payload: dict[str, Any] | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the payload parsed and fits the schema."""
        return self.error is None


def schema_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A payload made of the defaults the schema declares (what the form prefills when the type changes)."""
    properties = schema.get("properties") or {}
    return {name: spec["default"] for name, spec in properties.items()
            if isinstance(spec, Mapping) and "default" in spec}


def _field(error: ValidationError) -> str:
    path = "payload"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _sentence(error: ValidationError, schema: Mapping[str, Any]) -> str:
    field = _field(error)
    if error.validator == "required":
        missing = next((name for name in error.validator_value if name not in (error.instance or {})), "?")
        return f"{field}.{missing} is required"
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = sorted((error.schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - set(known))
        return f"{field}.{extra[0]} is not a field of this job type (fields: {', '.join(known) or 'none'})"
    return f"{field}: {error.message}"


def check_payload(text: str, schema: Mapping[str, Any]) -> PayloadCheck:
    """Parse ``text`` as JSON and check it against ``schema``; an empty box means ``{}``."""
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as err:
        return PayloadCheck(None, f"payload is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})")
    if not isinstance(value, dict):
        return PayloadCheck(None, f"payload must be a JSON object, got {type(value).__name__}")
    error = best_match(Draft202012Validator(schema).iter_errors(value))
    if error is not None:
        return PayloadCheck(None, _sentence(error, schema))
    return PayloadCheck(value)
