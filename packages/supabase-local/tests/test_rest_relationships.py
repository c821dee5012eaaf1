"""Unit tests of relationship detection and choice (PostgREST's ``addM2MRels``/``findRel``) and of the read
tree the planner builds for embeds, on a schema cache made by hand."""

from __future__ import annotations

import pytest

from supabase_local.rest import embedding, relationships, sqlgen
from supabase_local.rest.errors import RestError
from supabase_local.rest.query import parse_query
from supabase_local.rest.schema_cache import ForeignKey, Relation, SchemaCache

RELATIONS = {
    ("public", "films"): Relation("public", "films", ("id", "title", "director_id"), ("id",)),
    ("public", "directors"): Relation("public", "directors", ("id", "name"), ("id",)),
    ("public", "actors"): Relation("public", "actors", ("id", "name"), ("id",)),
    ("public", "roles"): Relation("public", "roles", ("film_id", "actor_id", "character"), ("film_id", "actor_id")),
    ("public", "people"): Relation("public", "people", ("id", "parent_id"), ("id",)),
}
FKS = (
    ForeignKey("films_director_id_fkey", ("public", "films"), ("public", "directors"), ("director_id",), ("id",),
               False),
    ForeignKey("roles_film_id_fkey", ("public", "roles"), ("public", "films"), ("film_id",), ("id",), False),
    ForeignKey("roles_actor_id_fkey", ("public", "roles"), ("public", "actors"), ("actor_id",), ("id",), False),
    ForeignKey("people_parent_id_fkey", ("public", "people"), ("public", "people"), ("parent_id",), ("id",), False),
)


@pytest.fixture
def cache() -> SchemaCache:
    built = SchemaCache(schemas=("public",), relations=dict(RELATIONS), foreign_keys=FKS)
    built.relationships = relationships.build(FKS, built.relations)
    return built


def refused(call, *args: object) -> RestError:
    with pytest.raises(RestError) as err:
        call(*args)
    return err.value


def test_cardinalities(cache: SchemaCache):
    rels = cache.relationships
    assert relationships.find(rels, "public", "films", "directors", None).cardinality == "many-to-one"
    assert relationships.find(rels, "public", "directors", "films", None).cardinality == "one-to-many"
    m2m = relationships.find(rels, "public", "films", "actors", None)
    assert m2m.cardinality == "many-to-many" and m2m.junction is not None
    assert m2m.junction.source == (("film_id", "id"),) and m2m.junction.target == (("actor_id", "id"),)


def test_hints_and_targets_by_constraint_or_column(cache: SchemaCache):
    rels = cache.relationships
    assert relationships.find(rels, "public", "films", "directors", "director_id").constraint == \
        "films_director_id_fkey"
    assert relationships.find(rels, "public", "films", "director_id", None).foreign == ("public", "directors")
    assert relationships.find(rels, "public", "films", "actors", "roles").cardinality == "many-to-many"


def test_self_relationship_parent_by_column_children_by_table(cache: SchemaCache):
    rels = cache.relationships
    assert relationships.find(rels, "public", "people", "parent_id", None).cardinality == "many-to-one"
    assert relationships.find(rels, "public", "people", "people", None).cardinality == "one-to-many"


def test_no_relationship_suggests_a_close_name(cache: SchemaCache):
    error = refused(relationships.find, cache.relationships, "public", "films", "actorz", None)
    assert (error.status, error.code) == (400, "PGRST200")
    assert error.hint == "Perhaps you meant 'actors' instead of 'actorz'."


def test_ambiguous_relationship_lists_each_candidate():
    fks = (ForeignKey("a_x_fkey", ("public", "a"), ("public", "b"), ("x",), ("id",), False),
           ForeignKey("a_y_fkey", ("public", "a"), ("public", "b"), ("y",), ("id",), False))
    rels = relationships.build(fks, {})
    error = refused(relationships.find, rels, "public", "a", "b", None)
    assert (error.status, error.code) == (300, "PGRST201")
    assert [d["relationship"] for d in error.details] == ["a_x_fkey using a(x) and b(id)",
                                                          "a_y_fkey using a(y) and b(id)"]


def test_read_tree_joins_the_junction_and_checks_scopes(cache: SchemaCache):
    films = cache.relations[("public", "films")]
    query = parse_query([("select", "title,actors!inner(name)"), ("actors.name", "eq.x")])
    source = sqlgen.relation_source(films)
    node = embedding.tree(cache, films, query, source, source.qualifier)
    text = sqlgen.read(node, sqlgen.Shape.ARRAY, False, sqlgen.Params(), False).query.as_string(None)
    assert "left join lateral" in text and '"public"."roles"' in text and "is not null" in text
    stray = parse_query([("select", "title"), ("actors.name", "eq.x")])
    assert refused(embedding.tree, cache, films, stray, source, source.qualifier).code == "PGRST108"
