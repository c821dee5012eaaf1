"""The two ways a live table watches jobs, for the benches: ``postgres_changes`` on ``job_results`` (the operator's
view, with the service-role key), or a signed-in user's private topic ``jobs:<user id>``, where the database
broadcasts each change of that user's jobs (``realtime.broadcast_changes`` from a trigger). Either way the
callback gets the operation and the row."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from supabase import AsyncClient, acreate_client

from jobqueue.settings import Settings

MODES = ("changes", "broadcast")
OnChange = Callable[[str, Mapping[str, Any]], None]
# Run on a connection with ``claims_of(user id)``: ``submit_job`` there submits as that user.
SET_CLAIMS = "select set_config('request.jwt.claims', %s, false)"


def key_for(settings: Settings, mode: str) -> str:
    """The key a watcher in ``mode`` uses: the anon key, to sign in, for broadcast; the service role's (every
    job, the operator's view) for changes."""
    return settings.anon_key if mode == "broadcast" else settings.service_role_key


async def watch_jobs(url: str, key: str, mode: str, on_change: OnChange) -> tuple[AsyncClient, str | None]:
    """A client subscribed in ``mode`` with ``key`` (``key_for``); returns it once joined, with the user id whose
    jobs it receives (None: every job, the operator's view)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    client = await acreate_client(url, key)
    joined = asyncio.Event()
    user_id = None
    if mode == "broadcast":
        session = (await client.auth.sign_in_anonymously()).session
        await client.realtime.set_auth(session.access_token)
        user_id = session.user.id
        channel = client.channel(f"jobs:{user_id}", {"config": {"private": True}}).on_broadcast(
            "*", lambda message: on_change(message["payload"]["operation"], message["payload"].get("record") or {}))
    else:
        channel = client.channel("bench-live-table").on_postgres_changes(
            "*", lambda payload: on_change(payload["data"]["type"], payload["data"].get("record") or {}),
            schema="public", table="job_results")
    await channel.subscribe(lambda status, _error: joined.set() if status.value == "SUBSCRIBED" else None)
    await joined.wait()
    return client, user_id


def claims_of(user_id: str) -> str:
    """The JWT claims the gateway would set for ``user_id``, for ``SET_CLAIMS``."""
    return json.dumps({"sub": user_id, "role": "authenticated"})
