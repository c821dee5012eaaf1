"""Fan committed changes out to the channels whose bindings, filters and row visibility let them see it."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from supabase_local.realtime.auth import Auth
from supabase_local.realtime.capture import Change
from supabase_local.realtime.catalog import Catalog, TableInfo
from supabase_local.realtime.fanout import Patience, fan_out
from supabase_local.realtime.filters import matches_all
from supabase_local.realtime.outbox import Outbox
from supabase_local.realtime.protocol import Frame, push
from supabase_local.realtime.registry import Binding, ChannelJoin, Registry
from supabase_local.realtime.visibility import Visibility


@dataclass
class _Plan:
    change: Change
    table: TableInfo
    targets: list[tuple[ChannelJoin, list[Binding]]]


def _passes(binding: Binding, change: Change, table: TableInfo) -> bool:
    """Filters apply to the new row; deletes only carry the full old row with ``replica identity full``,
    and otherwise are not filterable (as Supabase documents), so they pass."""
    if change.op != "DELETE":
        return matches_all(binding.conditions, change.record)
    return matches_all(binding.conditions, change.old_record) if table.replica_full else True


def _only(record: dict[str, Any] | None, select: tuple[str, ...] | None) -> dict[str, Any] | None:
    if record is None or select is None:
        return record
    return {key: value for key, value in record.items() if key in select}


def frames_for(change: Change, table: TableInfo, topic: str, bindings: list[Binding]) -> list[Frame]:
    """The postgres_changes frames for one channel: one per distinct column selection of its bindings."""
    by_select: dict[tuple[str, ...] | None, list[int]] = defaultdict(list)
    for binding in bindings:
        by_select[binding.select].append(binding.id)
    frames = []
    for select, ids in by_select.items():
        data: dict[str, Any] = {
            "schema": change.schema, "table": change.table, "commit_timestamp": iso_z(change),
            "type": change.op, "errors": None, "columns": table.columns_payload(select)}
        if change.op != "DELETE":
            data["record"] = _only(change.record, select)
        if change.op != "INSERT":
            data["old_record"] = table.old_record(change.old_record)
        frames.append(push(topic, "postgres_changes", {"ids": ids, "data": data}))
    return frames


def iso_z(change: Change) -> str:
    """The commit time in UTC, ISO 8601 with milliseconds and ``Z``, as Supabase writes it."""
    return _iso_z(change.commit_ts)


@functools.lru_cache(maxsize=1024)
def _iso_z(moment: dt.datetime) -> str:
    """Cached: the changes of one transaction, and their frames to every channel, share one commit time."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


class Dispatcher:
    """Turns batches of changes into frames on the right connections, in commit order."""

    def __init__(self, registry: Registry, catalog: Catalog, visibility: Visibility,
                 patience: Patience | None = None) -> None:
        self._registry = registry
        self._catalog = catalog
        self._visibility = visibility
        self._patience = patience or Patience()

    async def _plan(self, changes: list[Change]) -> list[_Plan]:
        watchers = self._registry.watchers()
        plans = []
        for change in changes:
            if not watchers:
                break
            table = await self._catalog.table(change.schema, change.table)
            if table is None:
                continue
            targets = []
            for join in watchers:
                hits = [binding for binding in join.bindings
                        if binding.covers(change.schema, change.table, change.op) and _passes(binding, change, table)]
                if hits:
                    targets.append((join, hits))
            if targets:
                plans.append(_Plan(change, table, targets))
        return plans

    async def _allowed(self, plans: list[_Plan]) -> set[tuple[int, Auth]]:
        """``(plan index, auth)`` pairs whose subscriber may see that plan's change."""
        rows: dict[tuple[TableInfo, Auth], list[int]] = defaultdict(list)
        tables: set[tuple[TableInfo, Auth]] = set()
        for index, plan in enumerate(plans):
            for auth in {join.auth for join, _ in plan.targets}:
                if plan.change.op == "DELETE":
                    tables.add((plan.table, auth))
                else:
                    rows[(plan.table, auth)].append(index)
        allowed: set[tuple[int, Auth]] = set()
        for (table, auth), indices in rows.items():
            visible = await self._visibility.visible(table, auth, [plans[i].change.record or {} for i in indices])
            allowed.update((indices[position], auth) for position in visible)
        readable = {key for key in tables if await self._visibility.may_select(*key)}
        allowed.update((index, plan_auth) for index, plan in enumerate(plans) if plan.change.op == "DELETE"
                       for plan_auth in {join.auth for join, _ in plan.targets} if (plan.table, plan_auth) in readable)
        return allowed

    async def handle(self, changes: list[Change]) -> None:
        """Deliver ``changes`` (in commit order) to every subscriber that may see them; returns once each
        connection has taken its frames or was dropped for reading too slowly."""
        plans = await self._plan(changes)
        if not plans:
            return
        allowed = await self._allowed(plans)
        owed: dict[Outbox, list[Frame]] = defaultdict(list)
        for index, plan in enumerate(plans):
            for join, bindings in plan.targets:
                if (index, join.auth) in allowed:
                    owed[join.outbox].extend(join.tagged(frame)
                                             for frame in frames_for(plan.change, plan.table, join.topic, bindings))
        await fan_out(owed, self._patience)
