"""Realtime Authorization: may this subscriber read from (join) or write to (broadcast on) a private channel?

Asked of PostgreSQL the way hosted Realtime asks it (lib/realtime/tenants/authorization.ex): in a transaction that
is always rolled back, with the subscriber's role, claims and ``realtime.topic`` set,
  * read: a probe row for the topic is inserted first (as ``service_role``, past RLS), then the subscriber
    selects it; visible means the SELECT policies on ``realtime.messages`` let them receive the topic;
  * write: the subscriber inserts a row for the topic; no ``insufficient_privilege`` means the INSERT policies
    let them send on it.
A policy that fails (a bad cast, say) denies, as hosted treats an RLS error as unauthorized.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from supabase_local.realtime.auth import Auth

log = structlog.get_logger(__name__)

_AS_SUBSCRIBER = """select set_config('role', %(role)s, true), set_config('request.jwt.claims', %(claims)s, true),
                          set_config('request.jwt.claim.sub', coalesce(%(claims)s::jsonb ->> 'sub', ''), true),
                          set_config('request.jwt.claim.role', %(role)s, true),
                          set_config('realtime.topic', %(topic)s, true)"""
_PROBE = ("insert into realtime.messages (id, topic, extension, private) "
          "values (%(id)s, %(topic)s, 'broadcast', true)")


Check = Callable[[psycopg.AsyncConnection], Awaitable[bool]]


class _Rollback(Exception):
    """Ends a check's transaction: nothing it did may stay."""


class Authorization:
    """Read and write checks for private channels, over the ``authenticator`` login (which may become any API role)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def can_read(self, auth: Auth, topic: str) -> bool:
        """True when the SELECT policies on realtime.messages let ``auth`` receive ``topic`` (without prefix)."""
        probe = uuid.uuid4()
        params = {"role": auth.role, "claims": auth.claims_json, "topic": topic, "id": probe}

        async def check(conn: psycopg.AsyncConnection) -> bool:
            await conn.execute("set local role service_role")
            await conn.execute(_PROBE, params)
            await conn.execute(_AS_SUBSCRIBER, params)
            cur = await conn.execute("select exists (select from realtime.messages where id = %(id)s)", params)
            return bool((await cur.fetchone())[0])

        return await self._rolled_back(check, auth, topic, "read")

    async def can_write(self, auth: Auth, topic: str) -> bool:
        """True when the INSERT policies on realtime.messages let ``auth`` send on ``topic``."""
        params = {"role": auth.role, "claims": auth.claims_json, "topic": topic, "id": uuid.uuid4()}

        async def check(conn: psycopg.AsyncConnection) -> bool:
            await conn.execute(_AS_SUBSCRIBER, params)
            await conn.execute(_PROBE, params)
            return True

        return await self._rolled_back(check, auth, topic, "write")

    async def _rolled_back(self, check: Check, auth: Auth, topic: str, what: str) -> bool:
        """``check(conn)`` in a transaction rolled back whatever happens; False when the database refuses."""
        outcome = False
        try:
            async with self._pool.connection() as conn:
                try:
                    async with conn.transaction():
                        outcome = await check(conn)
                        raise _Rollback
                except _Rollback:
                    pass
        except psycopg.OperationalError:
            raise
        except psycopg.Error as error:
            log.info("realtime.not_authorized", role=auth.role, topic=topic, check=what, reason=str(error).strip())
            return False
        return outcome
