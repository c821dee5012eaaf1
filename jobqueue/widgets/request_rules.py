"""What the form checks before it sends, by ``submit_job``'s own rules, and how it says what it will send.

The limits are the ones ``sql/040_submit_job.sql`` enforces (``checked_range``); the form refuses a value outside
them with the rule instead of changing it, so what the person typed is what is sent or nothing is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# argument of submit_job -> (lowest, highest), as submit_job's checked_range calls have them.
LIMITS = {"priority": (-100, 100), "delay_seconds": (0, 2_592_000)}
LABELS = {"priority": "Priority", "delay_seconds": "Delay"}


def range_problem(argument: str, value: int) -> str | None:
    """The rule ``value`` breaks, in the database's words, or None when it is within the limits."""
    low, high = LIMITS[argument]
    if low <= value <= high:
        return None
    return f"{LABELS[argument]}: {argument} must be between {low} and {high}, got {value}; nothing is sent until " \
           "it is"


def defaults_note(schema: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    """Which of the type's defaults the worker fills in for fields the payload leaves out (None: none)."""
    properties = schema.get("properties") or {}
    missing = {name: spec["default"] for name, spec in properties.items()
               if isinstance(spec, Mapping) and "default" in spec and name not in payload}
    if not missing:
        return None
    values = ", ".join(f"{name} = {json.dumps(value)}" for name, value in missing.items())
    if not payload:
        return f"An empty payload means the type's defaults: {values}."
    return f"Fields left out take the type's defaults: {values}."


def call_text(arguments: Mapping[str, Any], key: str | None) -> str:
    """``submit_job(task_name => 'x', ...)``: the call the click makes, argument by argument."""
    parts = [f"{name} => {json.dumps(value, ensure_ascii=False)}" for name, value in arguments.items()
             if name != "idempotency_key"]
    parts.append(f"idempotency_key => {json.dumps(key)}" if key
                 else "idempotency_key => (a new key at the click, kept until a field changes)")
    return "submit_job(" + ", ".join(parts) + ")"
