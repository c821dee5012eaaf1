"""Relationships between tables, found from foreign keys as PostgREST finds them, and the choice of one for
an embed (PostgREST docs: Resource Embedding, "Foreign Key Joins"; source: ``addM2MRels`` and
``addInverseRels`` in ``SchemaCache.hs``, ``findRel`` in ``Plan.hs``).

A foreign key gives a many-to-one relationship and its one-to-many inverse (one-to-one both ways when its
columns are also unique); two foreign keys of a junction table whose columns are part of its primary key
give a many-to-many relationship between the tables they reference.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from supabase_local.rest.errors import RestError
from supabase_local.rest.relations import ForeignKey, Relation

MANY_TO_ONE, ONE_TO_MANY, ONE_TO_ONE, MANY_TO_MANY = "many-to-one", "one-to-many", "one-to-one", "many-to-many"
Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Junction:
    """The table between the two sides of a many-to-many relationship."""

    table: tuple[str, str]
    constraint1: str
    constraint2: str
    source: Pairs  # (junction column, origin column)
    target: Pairs  # (junction column, target column)


@dataclass(frozen=True)
class Relationship:
    """From ``table`` to ``foreign``; ``columns`` pairs (origin column, target column) for the direct kinds."""

    table: tuple[str, str]
    foreign: tuple[str, str]
    constraint: str
    cardinality: str
    columns: Pairs = ()
    junction: Junction | None = None

    @property
    def to_one(self) -> bool:
        return self.cardinality in (MANY_TO_ONE, ONE_TO_ONE)

    @property
    def is_self(self) -> bool:
        return self.table == self.foreign


def build(foreign_keys: Iterable[ForeignKey], relations: dict[tuple[str, str], Relation],
          ) -> dict[tuple[str, str], list[Relationship]]:
    """Every relationship, by origin table."""
    found: dict[tuple[str, str], list[Relationship]] = defaultdict(list)
    many_to_one: list[ForeignKey] = []
    for fk in foreign_keys:
        pairs = tuple(zip(fk.columns, fk.foreign_columns, strict=True))
        inverse = tuple((target, origin) for origin, target in pairs)
        forward, backward = (ONE_TO_ONE, ONE_TO_ONE) if fk.one_to_one else (MANY_TO_ONE, ONE_TO_MANY)
        found[fk.table].append(Relationship(fk.table, fk.foreign, fk.name, forward, pairs))
        found[fk.foreign].append(Relationship(fk.foreign, fk.table, fk.name, backward, inverse))
        if not fk.one_to_one:
            many_to_one.append(fk)
    for first in many_to_one:
        junction = relations.get(first.table)
        key = set(junction.primary_key) if junction else set()
        for second in many_to_one:
            if second.table != first.table or second.name == first.name:
                continue
            if not set(first.columns) | set(second.columns) <= key:
                continue
            link = Junction(first.table, first.name, second.name, tuple(zip(first.columns, first.foreign_columns,
                                                                            strict=True)),
                            tuple(zip(second.columns, second.foreign_columns, strict=True)))
            found[first.foreign].append(Relationship(first.foreign, second.foreign, first.name, MANY_TO_MANY,
                                                     junction=link))
    return dict(found)


def _single(pairs: Pairs, side: int) -> str | None:
    return pairs[0][side] if len(pairs) == 1 else None


def _matches(rel: Relationship, target: str, hint: str | None) -> bool:
    """PostgREST's ``findRel`` test: the target names the table (or, without a hint, the constraint or the
    origin's column); the hint names the constraint, a column of either side or the junction table."""
    names_table = target == rel.foreign[1]
    direct = rel.junction is None
    if rel.is_self and direct:
        if hint is None:
            return (names_table and rel.cardinality == ONE_TO_MANY) or (
                _single(rel.columns, 0) == target and rel.cardinality == MANY_TO_ONE)
        return names_table and rel.cardinality == ONE_TO_MANY and _single(rel.columns, 0) == hint
    if hint is None:
        return names_table or (direct and target in (rel.constraint, _single(rel.columns, 0)))
    if not names_table:
        return False
    if rel.junction is not None:
        return hint == rel.junction.table[1]
    return hint in (rel.constraint, _single(rel.columns, 0), _single(rel.columns, 1))


def describe(rel: Relationship) -> dict[str, str]:
    """One entry of PGRST201's details (PostgREST's ``compressedRel``)."""
    def listed(names: Iterable[str]) -> str:
        return f"({', '.join(names)})"

    if rel.junction is not None:
        link = rel.junction
        text = (f"{link.table[1]} using {link.constraint1}{listed(c for c, _ in link.source)} and "
                f"{link.constraint2}{listed(c for c, _ in link.target)}")
    else:
        text = (f"{rel.constraint} using {rel.table[1]}{listed(c for c, _ in rel.columns)} and "
                f"{rel.foreign[1]}{listed(c for _, c in rel.columns)}")
    return {"cardinality": rel.cardinality, "embedding": f"{rel.table[1]} with {rel.foreign[1]}",
            "relationship": text}


def _no_relationship(all_rels: dict[tuple[str, str], list[Relationship]], schema: str, origin: str, target: str,
                     hint: str | None) -> RestError:
    """PGRST200, with PostgREST's "Perhaps you meant" for a close table name."""
    using = f"' using the hint '{hint}" if hint else ""
    details = (f"Searched for a foreign key relationship between '{origin}' and '{target}{using}' in the schema "
               f"'{schema}', but no matches were found.")
    suggestion = None
    own = all_rels.get((schema, origin))
    if own is not None:
        children = sorted({rel.foreign[1] for rel in own})
        if target not in children:
            close = difflib.get_close_matches(target, children, n=1, cutoff=0.6)
            suggestion = f"Perhaps you meant '{close[0]}' instead of '{target}'." if close else None
    else:
        parents = sorted(name for rel_schema, name in all_rels if rel_schema == schema)
        close = difflib.get_close_matches(origin, parents, n=1, cutoff=0.6)
        suggestion = f"Perhaps you meant '{close[0]}' instead of '{origin}'." if close else None
    return RestError(400, "PGRST200", f"Could not find a relationship between '{origin}' and '{target}' in the "
                     "schema cache", details, suggestion)


def find(all_rels: dict[tuple[str, str], list[Relationship]], schema: str, origin: str, target: str,
         hint: str | None) -> Relationship:
    """The one relationship ``origin?select=target!hint(...)`` means; PGRST200 for none, PGRST201 for several."""
    found = [rel for rel in all_rels.get((schema, origin), []) if _matches(rel, target, hint)]
    if not found:
        raise _no_relationship(all_rels, schema, origin, target, hint)
    if len(found) > 1:
        choices = ", ".join(f"'{rel.foreign[1]}!{rel.junction.table[1] if rel.junction else rel.constraint}'"
                            for rel in found)
        raise RestError(300, "PGRST201", f"Could not embed because more than one relationship was found for "
                        f"'{origin}' and '{target}'", [describe(rel) for rel in found],
                        f"Try changing '{target}' to one of the following: {choices}. Find the desired "
                        "relationship in the 'details' key.")
    return found[0]
