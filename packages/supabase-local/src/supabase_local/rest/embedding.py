"""From ``select`` with embedded resources to a tree of ReadNodes (PostgREST docs: Resource Embedding).

Each embed is resolved to one relationship of the schema cache (``relationships.find``); the filters, order
and page the query string scopes to it (``cities.name=eq.x``, ``cities.order=name``) go to its node.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from psycopg import sql

from supabase_local.rest import inline, relationships
from supabase_local.rest.errors import RestError
from supabase_local.rest.query import Embed, Query, Selected, SelectItem
from supabase_local.rest.schema_cache import Relation, SchemaCache
from supabase_local.rest.sqlgen import Child, ReadNode, Source


@dataclass
class _Builder:
    cache: SchemaCache
    schema: str
    scopes: dict[tuple[str, ...], Query]
    used: set[tuple[str, ...]] = field(default_factory=set)
    names: itertools.count = field(default_factory=itertools.count)

    def alias(self) -> sql.Identifier:
        return sql.Identifier(f"_pgrst_{next(self.names)}")

    def node(self, relation: Relation, source: Source, from_item: sql.Composable, select: tuple[Selected, ...],
             query: Query, path: tuple[str, ...]) -> ReadNode:
        items: list[SelectItem | Child] = []
        for item in select:
            items.append(self.child(relation, source, item, path) if isinstance(item, Embed) else item)
        return ReadNode(source, from_item, tuple(items), query)

    def child(self, parent: Relation, parent_source: Source, embed: Embed, path: tuple[str, ...]) -> Child:
        rel = relationships.find(self.cache.relationships, self.schema, parent.name, embed.name, embed.hint)
        if embed.spread and not rel.to_one:
            raise RestError(400, "PGRST119", f"A spread operation on '{embed.name}' is not possible",
                            f"'{parent.name}' and '{embed.name}' do not form a many-to-one or one-to-one "
                            "relationship")
        target = self.cache.relations[rel.foreign]
        alias = self.alias()
        source = Source(target.name, target.columns, alias)
        from_item: sql.Composable = sql.SQL("{} as {}").format(inline.name(*rel.foreign), alias)
        junction_alias = None
        if rel.junction is not None:
            junction_alias = self.alias()
            joined = sql.SQL(" and ").join(sql.SQL("{}.{} = {}").format(junction_alias, inline.name(jcol),
                                                                        source.column(col))
                                           for jcol, col in rel.junction.target)
            from_item = sql.SQL("{} join {} as {} on {}").format(from_item, inline.name(*rel.junction.table),
                                                                 junction_alias, joined)
        here = (*path, embed.label)
        self.used.add(here)
        query = self.scopes.get(here, Query(select=()))
        node = self.node(target, source, from_item, embed.select, query, here)
        return Child(node, rel, embed.label, embed.inner, embed.spread, not embed.select, self.alias(),
                     _outputs(node, target), junction_alias)


def _outputs(node: ReadNode, relation: Relation) -> tuple[str, ...]:
    """The response keys a node's rows carry (what a spread lifts into its parent)."""
    names: list[str] = []
    for item in node.select:
        if isinstance(item, SelectItem):
            names += relation.columns if item.column == "*" else [item.output]
        elif item.spread:
            names += item.outputs
        elif not item.hidden:
            names.append(item.label)
    return tuple(names)


def _not_embedded(path: tuple[str, ...]) -> RestError:
    resource = path[-1]
    return RestError(400, "PGRST108", f"'{resource}' is not an embedded resource in this request",
                     hint=f"Verify that '{resource}' is included in the 'select' query parameter.")


def check_no_scopes(query: Query) -> None:
    """Where nothing can be embedded, a scoped parameter names no embedded resource: PGRST108."""
    for path in query.embedded:
        raise _not_embedded(path)


def tree(cache: SchemaCache, relation: Relation, query: Query, source: Source, from_item: sql.Composable,
         ) -> ReadNode:
    """The read tree of ``relation`` for ``query``; PGRST200/201 for an embed no single relationship
    explains, PGRST108 for scoped parameters that name no embed."""
    builder = _Builder(cache, relation.schema, query.embedded)
    root = builder.node(relation, source, from_item, query.select, query, ())
    for path in query.embedded:
        if path not in builder.used:
            raise _not_embedded(path)
    return root
