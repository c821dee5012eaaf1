"""The request headers PostgREST reads besides auth: ``Prefer``, ``Accept``, ``Range`` and the schema profiles.

Header names are case-insensitive and may repeat (supabase-py sends some twice); repeated ``Prefer``
headers are merged as PostgREST merges them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import Headers

from supabase_local.rest.errors import RestError, parse_error

OBJECT_MEDIA = "application/vnd.pgrst.object+json"
ARRAY_MEDIA = "application/vnd.pgrst.array+json"
JSON_MEDIA = "application/json"
CSV_MEDIA = "text/csv"
COUNT_METHODS = ("exact", "planned", "estimated")
_RANGE_RE = re.compile(r"\s*([0-9]+)-([0-9]*)\s*")


@dataclass(frozen=True)
class Preferences:
    """What ``Prefer`` asks for; unknown preferences are ignored, as PostgREST does by default."""

    representation: bool = False
    count: bool = False
    count_method: str | None = None  # exact | planned | estimated (PostgREST docs: Pagination and Count)
    resolution: str | None = None
    max_affected: int | None = None
    strict: bool = False
    missing_default: bool = False  # missing=default: keys absent from a row take the column default, not null


@dataclass(frozen=True)
class Output:
    """The response shape chosen from ``Accept``: one object or an array, nulls kept or stripped."""

    single: bool = False
    strip_nulls: bool = False
    csv: bool = False

    @property
    def media_type(self) -> str:
        media = CSV_MEDIA if self.csv else OBJECT_MEDIA if self.single else JSON_MEDIA
        return f"{media}; charset=utf-8"


def preferences(headers: Headers) -> Preferences:
    """Merge every ``Prefer`` header into one set of preferences."""
    tokens: dict[str, str] = {}
    for header in headers.getlist("prefer"):
        for token in header.split(","):
            key, _, value = token.strip().partition("=")
            tokens[key.strip().lower()] = value.strip()
    max_affected = tokens.get("max-affected")
    if max_affected is not None and not (max_affected.isascii() and max_affected.isdigit()):
        raise parse_error("max-affected preference", max_affected, "expecting a non-negative integer")
    resolution = tokens.get("resolution")
    return Preferences(
        representation=tokens.get("return") == "representation",
        count=tokens.get("count") in COUNT_METHODS,
        count_method=tokens.get("count") if tokens.get("count") in COUNT_METHODS else None,
        resolution=resolution.removesuffix("-duplicates") if resolution else None,
        max_affected=int(max_affected) if max_affected is not None else None,
        strict=tokens.get("handling") == "strict",
        missing_default=tokens.get("missing") == "default",
    )


def output(headers: Headers) -> Output:
    """Pick the response media type PostgREST would; others get 406 PGRST107."""
    offered = [part.strip() for header in headers.getlist("accept") for part in header.split(",") if part.strip()]
    if not offered:
        return Output()
    for entry in offered:
        media, *params = [piece.strip() for piece in entry.split(";")]
        strip = "nulls=stripped" in params
        if media == OBJECT_MEDIA:
            return Output(single=True, strip_nulls=strip)
        if media == CSV_MEDIA:
            return Output(csv=True)
        if media in (JSON_MEDIA, ARRAY_MEDIA, "*/*", "application/*"):
            return Output(single=False, strip_nulls=strip and media == ARRAY_MEDIA)
    raise RestError(406, "PGRST107", f"None of these media types are available: {', '.join(offered)}")


def schema(headers: Headers, method: str, exposed: tuple[str, ...]) -> str:
    """The schema named by ``Accept-Profile`` (reads) or ``Content-Profile`` (writes); the first exposed one
    by default."""
    name = "accept-profile" if method in ("GET", "HEAD") else "content-profile"
    chosen = headers.get(name)
    if chosen is None:
        return exposed[0]
    chosen = chosen.strip()
    if chosen not in exposed:
        raise RestError(406, "PGRST106", f"Invalid schema: {chosen}",
                        hint=f"Only the following schemas are exposed: {', '.join(exposed)}")
    return chosen


def header_range(headers: Headers) -> tuple[int, int | None] | None:
    """``Range: first-last`` (items) as (offset, limit); None when absent."""
    value = headers.get("range")
    if value is None:
        return None
    unit_less = value.split("=", 1)[-1]
    match = _RANGE_RE.fullmatch(unit_less)
    if match is None:
        raise parse_error("Range header", value, "expecting first-last, e.g. 0-9")
    first = int(match.group(1))
    if not match.group(2):
        return first, None
    last = int(match.group(2))
    if last < first:
        raise RestError(416, "PGRST103", "Requested range not satisfiable",
                        "The lower boundary must be lower than or equal to the upper boundary in the Range header.")
    return first, last - first + 1
