"""Step 1: one like, three messages. A post to like, the like through the API as a browser sends it, and what
``toggle_post_like`` put on each queue."""

from __future__ import annotations

from supabase import AsyncClient

from jobqueue.lab import queries
from jobqueue.lab.db import Row, rows
from jobqueue.settings import Settings


def new_post(settings: Settings, caption: str = "a sunset over the harbour", post_id: str | None = None) -> str:
    """A post with an owner (so a like notifies someone); with ``post_id``, that post, created if missing."""
    created = rows(settings, queries.NEW_POST, {"id": post_id, "caption": caption})
    return str(created[0]["id"]) if created else str(post_id)


async def like(client: AsyncClient, post_id: str, session_id: str) -> dict:
    """``toggle_post_like`` with the client's key (anon in the lab): the seed's answer
    ``{success, isLiked, newLikeCount}``."""
    return (await client.rpc("toggle_post_like", {"p_post_id": post_id, "p_session_id": session_id}).execute()).data


def fanout(settings: Settings, post_id: str) -> list[Row]:
    """The messages on the three queues that name ``post_id``, not yet consumed."""
    return rows(settings, queries.FANOUT, {"post": post_id})
