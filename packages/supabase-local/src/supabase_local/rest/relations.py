"""The catalog's tables and the foreign keys between them, as the schema cache loads them and the
relationship finder reads them (their own module, so neither of those two imports the other)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Relation:
    """A table or view: its columns in order and its primary key (the default upsert target)."""

    schema: str
    name: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key constraint: ``columns`` of ``table`` reference ``foreign_columns`` of ``foreign``."""

    name: str
    table: tuple[str, str]
    foreign: tuple[str, str]
    columns: tuple[str, ...]
    foreign_columns: tuple[str, ...]
    one_to_one: bool
