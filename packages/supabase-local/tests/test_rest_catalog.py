"""The schema cache a request plans with: a name missing from the cache it started with is looked up again in
the cache the listener swapped in meanwhile, without asking the database."""

from __future__ import annotations

from supabase_local.pg_listener import Listener
from supabase_local.rest.catalog import Catalog
from supabase_local.rest.errors import table_not_found
from supabase_local.rest.schema_cache import SchemaCache

SCHEMAS = ("public",)


class Unreachable:
    """A pool the test expects never to be used."""

    def connection(self) -> None:
        raise AssertionError("the catalog asked the database although a newer cache was already in place")


async def test_a_miss_retries_on_the_cache_swapped_in_meanwhile():
    catalog = Catalog("postgresql://unused", SCHEMAS, Unreachable(), Listener("postgresql://unused"))  # type: ignore[arg-type]
    old, new = SchemaCache(SCHEMAS, version=1), SchemaCache(SCHEMAS, version=2)
    catalog.cache = old
    seen: list[SchemaCache] = []

    def make(cache: SchemaCache) -> int:
        seen.append(cache)
        if cache is old:
            catalog.cache = new  # the listener reloads while this request plans
            raise table_not_found("public", "just_created")
        return cache.version or 0

    assert await catalog.with_cache(make) == 2
    assert seen == [old, new]
