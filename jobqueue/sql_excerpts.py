"""The few lines of ``supabase/migrations/`` a notebook step is about, read from the files when the step runs.

Excerpts are found by what they define (a function's name, a statement's opening words), never by line
numbers, so the notebook shows what the files say today; the last definition in file order is the one the
database keeps, since a later migration replaces an earlier one. An ``Excerpt`` renders as highlighted SQL in
Jupyter and as plain text elsewhere.
"""

from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PostgresLexer

from jobqueue.settings import PROJECT_ROOT

MIGRATIONS = "supabase/migrations"
SQL_DIR = PROJECT_ROOT / MIGRATIONS
_DOLLAR_QUOTE = "$$"


class ExcerptNotFound(LookupError):
    """No migration defines what was asked for."""


@dataclass(frozen=True)
class Excerpt:
    """Lines ``first``-``last`` (1-based) of one migration file, defining ``name`` (a function, trigger, policy)."""

    name: str
    file: str
    first: int
    last: int
    text: str

    @property
    def where(self) -> str:
        """``supabase/migrations/<file>, lines a-b``: where a reader finds it in the file today."""
        lines = f"line {self.first}" if self.first == self.last else f"lines {self.first}-{self.last}"
        return f"{MIGRATIONS}/{self.file}, {lines}"

    @property
    def body(self) -> str:
        """A function's body: the text between its ``$$`` quotes, exactly as PostgreSQL stores it (``prosrc``)."""
        start = self.text.index(_DOLLAR_QUOTE) + len(_DOLLAR_QUOTE)
        return self.text[start:self.text.rindex(_DOLLAR_QUOTE)]

    def __str__(self) -> str:
        return f"-- {self.where}\n{self.text}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        code = highlight(self.text, PostgresLexer(), HtmlFormatter(noclasses=True, nobackground=True))
        return f"<div><code>{html.escape(self.where)}</code>{code}</div>"


def _files(sql_dir: Path) -> list[Path]:
    return sorted(Path(sql_dir).glob("*.sql"))


def _find(start: re.Pattern[str], end: re.Pattern[str], name: str, sql_dir: Path) -> Excerpt:
    """The last block in file order that opens on a line matching ``start`` and closes on one matching ``end``
    (the last, because a later ``create or replace`` is the one the database keeps)."""
    found: Excerpt | None = None
    for path in _files(sql_dir):
        lines = path.read_text().splitlines()
        for first, line in enumerate(lines):
            if not start.search(line):
                continue
            last = next((i for i in range(first, len(lines)) if end.search(lines[i])), None)
            if last is None:
                raise ExcerptNotFound(f"{name} opens in {path.name} at line {first + 1} but never closes")
            text = textwrap.dedent("\n".join(lines[first:last + 1]))
            found = Excerpt(name, path.name, first + 1, last + 1, text)
    if found is None:
        raise ExcerptNotFound(f"no file in {Path(sql_dir).name}/ defines {name}")
    return found


def function_source(name: str, sql_dir: Path = SQL_DIR) -> Excerpt:
    """The ``create or replace function <name>`` … ``$$;`` block; ``name`` may carry its schema."""
    schema, _, bare = name.rpartition(".")
    qualifier = re.escape(schema) + r"\." if schema else r"(?:\w+\.)?"
    start = re.compile(rf"^\s*create\s+or\s+replace\s+function\s+{qualifier}{re.escape(bare)}\s*\(", re.IGNORECASE)
    return _find(start, re.compile(r"^\s*\$\$\s*;"), name, sql_dir)


def _statement(opening: str, name: str, sql_dir: Path) -> Excerpt:
    return _find(re.compile(opening, re.IGNORECASE), re.compile(r";\s*(--.*)?$"), name, sql_dir)


def trigger_source(name: str, sql_dir: Path = SQL_DIR) -> Excerpt:
    """The ``create [or replace] trigger <name>`` statement."""
    return _statement(rf"\bcreate\s+(?:or\s+replace\s+)?trigger\s+{re.escape(name)}\b", name, sql_dir)


def policy_source(name: str, sql_dir: Path = SQL_DIR) -> Excerpt:
    """The ``create policy <name>`` statement."""
    return _statement(rf"\bcreate\s+policy\s+{re.escape(name)}\b", name, sql_dir)


def statement(opening: str, sql_dir: Path = SQL_DIR) -> Excerpt:
    """The statement whose first line contains ``opening`` (words, any spacing), through its closing ``;``."""
    return _statement(r"\s+".join(re.escape(word) for word in opening.split()), opening, sql_dir)
