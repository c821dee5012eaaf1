"""Plans kept by the shape of their request, so a repeated kind of read skips parsing, planning and SQL
rendering.

A shape is all that decides the SQL of a GET or HEAD: the relation or function, the schema, the role, the
query string with the values of its simple filters (``col=[not.]op.value`` with an operator that binds its
value as it is, such as ``eq``, ``gt`` or ``like``) taken out, and the ``Prefer``, ``Accept`` and ``Range``
headers. A request of a known shape binds its own values into the kept statement.

What is kept is proven, not assumed: on a miss the request is planned as always, and when its shape comes
back it is planned a second time with stand-in values; the plan is kept only when both give the same SQL and
each stand-in sits alone in exactly one parameter, where the real plan has the request's value. A value that
shapes the SQL is never mistaken for a bound one; such shapes are remembered as not kept. The cache belongs to
one schema cache: when the catalog swaps in a reloaded one (DDL, ``NOTIFY pgrst``), every kept plan is dropped.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace

from supabase_local.rest import planner
from supabase_local.rest.errors import RestError, nul_byte
from supabase_local.rest.flight import Message
from supabase_local.rest.negotiation import Output, Preferences
from supabase_local.rest.query import RESERVED, parse_query
from supabase_local.rest.schema_cache import SchemaCache
from supabase_local.rest.sqlgen import Params, Statement

CACHE_SIZE = 1000
CACHED_METHODS = ("GET", "HEAD")
# Operators whose value the parser passes on unchanged (``like``/``ilike`` turn ``*`` into ``%``) and the
# planner binds as one parameter; the prefix splits as ``query._FILTER_RE`` splits it.
_BOUND = re.compile(r"((?:not\.)?(eq|neq|gt|gte|lt|lte|like|ilike|match|imatch|cs|cd|ov|sl|sr|nxr|nxl|adj|"
                    r"isdistinct)\.)(.*)", re.DOTALL)
_WILDCARDS = ("like", "ilike")
Key = tuple[object, ...]


@dataclass(frozen=True)
class Slot:
    """One parameter of a kept statement that takes the request's value number ``index``."""

    name: str
    index: int
    wildcard: bool  # like/ilike: ``*`` stands for ``%``


@dataclass(frozen=True)
class Binding:
    """A statement's parameters: the same for every request of the shape, and those the request brings."""

    constants: dict[str, object]
    slots: tuple[Slot, ...]

    def bind(self, values: list[str]) -> dict[str, object]:
        """The parameters for one request's values; 22021 for a NUL character, as planning refuses it."""
        params = dict(self.constants)
        for slot in self.slots:
            value = values[slot.index]
            if "\x00" in value:
                raise nul_byte()
            params[slot.name] = value.replace("*", "%") if slot.wildcard else value
        return params


@dataclass(frozen=True)
class Kept:
    """A plan kept for a shape, with what the request's headers asked for and the message that runs it
    (request settings and statement, rendered once)."""

    plan: planner.Plan
    prefs: Preferences
    output: Output
    main: Binding
    explain: Binding | None
    message: Message
    role_settings: dict[str, str] | None

    def plan_for(self, values: list[str]) -> tuple[planner.Plan, dict[str, object]]:
        """The plan for one request (its own explain parameters) and the statement's parameters."""
        params = self.main.bind(values)
        plan = self.plan
        if self.explain is not None and plan.explain is not None:
            plan = replace(plan, explain=Statement(plan.explain.query, Params(self.explain.bind(values))))
        return plan, params


class Shape:
    """A request's shape key and the values taken out of its query string."""

    __slots__ = ("key", "pairs", "values", "wildcards")

    def __init__(self, key: Key, pairs: list[tuple[str, str]], values: list[str], wildcards: list[bool]) -> None:
        self.key = key
        self.pairs = pairs
        self.values = values
        self.wildcards = wildcards


def _bound(key: str, value: str) -> re.Match[str] | None:
    """The split of a simple filter's value (prefix, operator, value), or None when the pair is kept whole."""
    return None if key in RESERVED else _BOUND.fullmatch(value)


def shape(method: str, schema: str, name: str, rpc: bool, role: str, pairs: list[tuple[str, str]],
          prefer: list[str], accept: list[str], window: str | None) -> Shape:
    """The shape of a read: ``pairs`` are the query parameters (without ``apikey``), ``prefer`` and ``accept``
    every such header, ``window`` the ``Range`` header."""
    items: list[tuple[str, str]] = []
    values: list[str] = []
    wildcards: list[bool] = []
    for key, value in pairs:
        bound = _bound(key, value)
        if bound is None:
            items.append((key, value))
            continue
        items.append((key, bound.group(1)))
        values.append(bound.group(3))
        wildcards.append(bound.group(2) in _WILDCARDS)
    key = (method, schema, name, rpc, role, tuple(items), tuple(prefer), tuple(accept), window)
    return Shape(key, pairs, values, wildcards)


def _stand_ins(count: int) -> list[str]:
    token = secrets.token_hex(8)
    return [f"\x1fpgrst{token}:{index:04d}\x1f" for index in range(count)]


def _binding(real: Statement, probe: Statement, values: list[str], wildcards: list[bool],
             stand_ins: list[str]) -> Binding | None:
    """The binding that turns ``probe``'s stand-ins into a request's values, when ``real`` proves it."""
    rendered = probe.query.as_bytes(None)
    if real.query.as_bytes(None) != rendered or real.params.keys() != probe.params.keys():
        return None
    text = rendered.decode()
    if any(stand_in in text for stand_in in stand_ins):
        return None
    index_of = {stand_in: index for index, stand_in in enumerate(stand_ins)}
    constants: dict[str, object] = {}
    slots: list[Slot] = []
    for name, value in probe.params.items():
        index = index_of.get(value) if isinstance(value, str) else None
        if index is not None:
            expected = values[index].replace("*", "%") if wildcards[index] else values[index]
            if real.params[name] != expected:
                return None
            slots.append(Slot(name, index, wildcards[index]))
        elif any(stand_in in str(value) for stand_in in stand_ins) or real.params[name] != value:
            return None
        else:
            constants[name] = value
    if sorted(slot.index for slot in slots) != list(range(len(values))):
        return None
    return Binding(constants, tuple(slots))


class PlanCache:
    """Kept plans by shape for one schema cache at a time; bounded, the oldest dropped first."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._schema: SchemaCache | None = None
        self._kept: dict[Key, Kept | None] = {}  # None: a shape that cannot be kept
        self._seen: dict[Key, None] = {}  # shapes planned once, not yet tried

    def __len__(self) -> int:
        return len(self._kept)

    def _follow(self, cache: SchemaCache) -> None:
        if cache is not self._schema:
            self._kept.clear()
            self._seen.clear()
            self._schema = cache

    def get(self, cache: SchemaCache, key: Key) -> Kept | None:
        """The plan kept for a shape on this schema cache, if any."""
        self._follow(cache)
        return self._kept.get(key)

    def known(self, key: Key) -> bool:
        """True when the shape was tried already (kept, or known not to keep)."""
        return key in self._kept

    def offer(self, cache: SchemaCache, request: planner.Request, plan: planner.Plan, message: Message,
              role_settings: dict[str, str] | None, found: Shape, window: tuple[int, int | None] | None,
              ) -> Kept | None:
        """A plan just made for a shape not tried yet: the first time the shape is only noted, so a shape that
        never comes back (a page offset, an RPC argument) costs no second plan; the next time it is tried
        (``learn``)."""
        self._follow(cache)
        if found.key not in self._seen:
            if len(self._seen) >= self.size:
                del self._seen[next(iter(self._seen))]
            self._seen[found.key] = None
            return None
        del self._seen[found.key]
        return self.learn(cache, request, plan, message, role_settings, found, window)

    def learn(self, cache: SchemaCache, request: planner.Request, plan: planner.Plan, message: Message,
              role_settings: dict[str, str] | None, found: Shape, window: tuple[int, int | None] | None,
              ) -> Kept | None:
        """Keep ``plan`` (just made from ``request`` on ``cache``, sent as ``message`` with the role's settings)
        for ``found``'s shape when a second plan with stand-in values proves which parameters are the request's
        values; None when it cannot be kept."""
        kept = self._prove(cache, request, plan, message, role_settings, found, window)
        self._follow(cache)
        if len(self._kept) >= self.size:
            del self._kept[next(iter(self._kept))]
        self._kept[found.key] = kept
        return kept

    def _prove(self, cache: SchemaCache, request: planner.Request, plan: planner.Plan, message: Message,
               role_settings: dict[str, str] | None, found: Shape, window: tuple[int, int | None] | None,
               ) -> Kept | None:
        stand_ins = _stand_ins(len(found.values))
        pairs: list[tuple[str, str]] = []
        values = iter(stand_ins)
        for key, value in found.pairs:
            bound = _bound(key, value)
            pairs.append((key, value) if bound is None else (key, bound.group(1) + next(values)))
        try:
            query = parse_query(pairs)
            if window is not None:
                query = planner.windowed(query, window)
            probe = planner.plan(cache, replace(request, query=query))
        except RestError:
            return None
        if (plan.kind, plan.shape, plan.read_only, plan.offset, plan.counted, plan.void, plan.single) != (
                probe.kind, probe.shape, probe.read_only, probe.offset, probe.counted, probe.void, probe.single):
            return None
        main = _binding(plan.statement, probe.statement, found.values, found.wildcards, stand_ins)
        if main is None or (plan.explain is None) != (probe.explain is None):
            return None
        explain = None
        if plan.explain is not None and probe.explain is not None:
            explain = _binding(plan.explain, probe.explain, found.values, found.wildcards, stand_ins)
            if explain is None:
                return None
        shared = replace(plan, statement=Statement(plan.statement.query, probe.statement.params))
        return Kept(shared, request.prefs, request.output, main, explain, message, role_settings)
