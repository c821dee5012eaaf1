"""Helpers of the queues lab's tests: posts and likes to fill the queues."""

from __future__ import annotations

import psycopg


def new_post(db: psycopg.Connection) -> str:
    """A post with an owner, so that its likes notify someone."""
    return str(db.execute("insert into public.posts (profile_id, caption) values (gen_random_uuid(), 'lab') "
                          "returning id").fetchone()[0])


def like_many(db: psycopg.Connection, post: str, count: int) -> None:
    """Toggle the like of ``count`` sessions on ``post`` (likes, or unlikes the second time)."""
    db.execute("select public.toggle_post_like(%s, 'session-' || n) from generate_series(1, %s) n", (post, count))
