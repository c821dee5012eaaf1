"""What the migrations say, beside what the catalog says is in place: the notebook's proof for each step.

A function is in place when the body PostgreSQL stores (``prosrc``) is, character for character, the body in
the file; a trigger or policy when the catalog holds it. Each ``Evidence`` renders as two columns in Jupyter
(the file on the left, the catalog on the right) and as plain text elsewhere.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from jobqueue import introspect
from jobqueue.settings import Settings
from jobqueue.sql_excerpts import Excerpt, function_source, policy_source, trigger_source

_COLUMN = "flex:1 1 28em;min-width:0;overflow-x:auto"


@dataclass(frozen=True)
class Evidence:
    """One definition from the migrations, what the catalog holds for it, and the verdict in one line."""

    source: Excerpt
    catalog: str
    verdict: str
    in_place: bool

    def __str__(self) -> str:
        return f"{self.source}\n\n-- in the database:\n{self.catalog}\n=> {self.verdict}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        mark = "&#10004;" if self.in_place else "&#10008;"
        return (f'<div style="display:flex;gap:1.5em;flex-wrap:wrap">'
                f'<div style="{_COLUMN}"><b>In the file</b>{self.source._repr_html_()}</div>'
                f'<div style="{_COLUMN}"><b>In the database</b> (catalog)'
                f"<pre>{html.escape(self.catalog)}</pre><p>{mark} {html.escape(self.verdict)}</p></div></div>")


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def function_evidence(settings: Settings, name: str) -> Evidence:
    """``name``'s block in the migrations beside ``pg_get_functiondef`` (up to its body) and who may call it."""
    source = function_source(name)
    row = introspect.function_definition(settings, name)
    if row is None:
        return Evidence(source, "(no such function)", f"{name} is missing: run provision()", in_place=False)
    header = row["definition"].split("AS $function$")[0].rstrip()
    catalog = (f"pg_get_functiondef('{row['function']}'):\n{header}\nAS $function$ … $function$\n\n"
               f"anon may call it: {_yes(row['anon'])}\nservice_role may call it: {_yes(row['service_role'])}")
    same = row["body"] == source.body
    verdict = (f"the stored body is identical to {source.where}" if same
               else f"the stored body differs from {source.where}: run provision() again")
    return Evidence(source, catalog, verdict, in_place=same)


def trigger_evidence(settings: Settings, name: str) -> Evidence:
    """The trigger's statement in the migrations beside ``pg_get_triggerdef``."""
    source = trigger_source(name)
    rows = introspect.trigger_definitions(settings, name)
    lines = [f"{row['definition']}\n  enabled: {_yes(row['enabled'])}" for row in rows]
    catalog = "\n".join(lines) or "(no such trigger)"
    in_place = any(row["enabled"] for row in rows)
    verdict = f"trigger {name} is in place and enabled" if in_place else f"trigger {name} is missing or disabled"
    return Evidence(source, catalog, verdict, in_place=in_place)


def policy_evidence(settings: Settings, name: str) -> Evidence:
    """The policy's statement in the migrations beside ``pg_policies`` and the table grants of each API role."""
    source = policy_source(name)
    policies = [row for row in introspect.policies(settings) if row["policy"] == name]
    catalog = (introspect.text_table(policies) + "\n\ntable privileges on job_results:\n"
               + introspect.text_table(introspect.table_grants(settings)))
    verdict = f"policy {name} is in place" if policies else f"policy {name} is missing: run provision()"
    return Evidence(source, catalog, verdict, in_place=bool(policies))
