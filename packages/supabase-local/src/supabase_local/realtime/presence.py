"""Presence per topic: who tracks what, as Phoenix Presence's ``presence_state`` and ``presence_diff``."""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Any

Meta = dict[str, Any]
_refs = itertools.count(1)


def _entry(key: str, meta: Meta) -> dict[str, dict[str, list[Meta]]]:
    return {key: {"metas": [meta]}}


class PresenceBoard:
    """The tracked presences of every topic; each channel join holds at most one."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[Hashable, tuple[str, Meta]]] = {}

    def state(self, topic: str) -> dict[str, dict[str, list[Meta]]]:
        """The full ``presence_state`` payload of ``topic``."""
        result: dict[str, dict[str, list[Meta]]] = {}
        for key, meta in self._topics.get(topic, {}).values():
            result.setdefault(key, {"metas": []})["metas"].append(meta)
        return result

    def track(self, topic: str, owner: Hashable, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Record (or replace) ``owner``'s presence; returns the ``presence_diff`` payload to send."""
        board = self._topics.setdefault(topic, {})
        previous = board.get(owner)
        meta: Meta = {**payload, "phx_ref": f"P{next(_refs)}"}
        if previous is not None:
            meta["phx_ref_prev"] = previous[1]["phx_ref"]
        board[owner] = (key, meta)
        leaves = _entry(*previous) if previous is not None else {}
        return {"joins": _entry(key, meta), "leaves": leaves}

    def untrack(self, topic: str, owner: Hashable) -> dict[str, Any] | None:
        """Forget ``owner``'s presence; the ``presence_diff`` payload, or None when it tracked nothing."""
        board = self._topics.get(topic, {})
        previous = board.pop(owner, None)
        if not board:
            self._topics.pop(topic, None)
        if previous is None:
            return None
        return {"joins": {}, "leaves": _entry(*previous)}
