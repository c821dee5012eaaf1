"""Every statement the Auth service runs against the ``auth`` tables, in one place (35_auth.sql makes them).

Users come back as GoTrue's JSON (internal/models/user.go and identity.go field names, ``omitempty`` fields left out
when empty), built by PostgreSQL in the same query that finds the row. Refresh tokens follow GoTrue's legacy
rotation (internal/tokens/service.go ``RefreshTokenGrant``, internal/models/refresh_token.go): each use revokes the
token and issues its child; a revoked token used again after the reuse interval revokes the whole session's family.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from supabase_local.auth import errors, tokens

REUSE_INTERVAL_SECONDS = 10  # GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL's default

_USER_JSON = sql.SQL("""
  jsonb_strip_nulls(jsonb_build_object(
    'email_confirmed_at', u.email_confirmed_at, 'phone_confirmed_at', u.phone_confirmed_at,
    'confirmation_sent_at', u.confirmation_sent_at, 'confirmed_at', u.confirmed_at,
    'recovery_sent_at', u.recovery_sent_at, 'last_sign_in_at', u.last_sign_in_at,
    'banned_until', u.banned_until, 'deleted_at', u.deleted_at))
  || jsonb_build_object(
    'id', u.id, 'aud', coalesce(u.aud, ''), 'role', coalesce(u.role, ''), 'email', coalesce(u.email, ''),
    'phone', coalesce(u.phone, ''), 'app_metadata', coalesce(u.raw_app_meta_data, '{}'),
    'user_metadata', coalesce(u.raw_user_meta_data, '{}'),
    'identities', (select coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                     'identity_id', i.id, 'id', i.provider_id, 'user_id', i.user_id,
                     'identity_data', i.identity_data, 'provider', i.provider, 'last_sign_in_at', i.last_sign_in_at,
                     'created_at', i.created_at, 'updated_at', i.updated_at, 'email', i.email))
                     order by i.created_at), '[]')
                   from auth.identities i where i.user_id = u.id),
    'created_at', u.created_at, 'updated_at', u.updated_at, 'is_anonymous', u.is_anonymous)""")
_USER = sql.SQL("select {json} as body, u.encrypted_password, coalesce(u.banned_until > now(), false) as banned "
                "from auth.users u ").format(json=_USER_JSON)


@dataclass(frozen=True)
class UserRow:
    """A user as the API shows it, plus what only the service sees."""

    body: dict[str, Any]
    encrypted_password: str | None
    banned: bool

    @property
    def id(self) -> str:
        return str(self.body["id"])

    def grant(self, session_id: str, method: str, authenticated_at: int) -> tokens.Grant:
        """The claims of an access token for this user in ``session_id``."""
        body = self.body
        return tokens.Grant(self.id, body["role"] or tokens.AUDIENCE, body["email"], body["phone"],
                            body["app_metadata"], body["user_metadata"], bool(body["is_anonymous"]), session_id,
                            method, authenticated_at)


@dataclass(frozen=True)
class Issued:
    """A session's refresh token and the method its access tokens name (``amr``) with when it was used."""

    session_id: str
    refresh_token: str
    method: str
    authenticated_at: int


async def _one_user(conn: psycopg.AsyncConnection, where: sql.Composable, params: dict[str, object],
                    lock: bool = False) -> UserRow | None:
    query = _USER + sql.SQL("where ") + where + (sql.SQL(" for update of u") if lock else sql.SQL(""))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        row = await cur.fetchone()
    return None if row is None else UserRow(**row)


async def user_by_id(conn: psycopg.AsyncConnection, user_id: uuid.UUID | str, lock: bool = False) -> UserRow | None:
    return await _one_user(conn, sql.SQL("u.id = %(id)s"), {"id": str(user_id)}, lock)


async def user_by_email(conn: psycopg.AsyncConnection, email: str) -> UserRow | None:
    """The (non-SSO) user with ``email``, which is stored lower-cased as GoTrue stores it."""
    return await _one_user(conn, sql.SQL("u.email = %(email)s and not u.is_sso_user"), {"email": email})


async def email_taken(conn: psycopg.AsyncConnection, email: str, except_id: str | None = None) -> bool:
    cur = await conn.execute("select exists (select from auth.users where email = %s and not is_sso_user "
                             "and id is distinct from %s::uuid)", (email, except_id))
    return bool((await cur.fetchone())[0])


@dataclass(frozen=True)
class NewUser:
    """What creating a user sets; ``email`` None for anonymous users."""

    email: str | None
    password_hash: str | None
    user_metadata: dict[str, Any]
    app_metadata: dict[str, Any]
    is_anonymous: bool
    role: str = tokens.AUDIENCE
    user_id: str | None = None
    email_confirmed: bool = True


async def insert_user(conn: psycopg.AsyncConnection, new: NewUser) -> UserRow:
    """Create the user and, for an email user, its ``email`` identity (signup.go ``signupNewUser``)."""
    user_id = new.user_id or str(uuid.uuid4())
    await conn.execute(
        """insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                                   raw_app_meta_data, raw_user_meta_data, is_super_admin, created_at, updated_at,
                                   is_anonymous)
           values ('00000000-0000-0000-0000-000000000000', %(id)s, %(aud)s, %(role)s, %(email)s, %(hash)s,
                   case when %(confirmed)s then now() end, %(app)s, %(meta)s, false, now(), now(), %(anon)s)""",
        {"id": user_id, "aud": tokens.AUDIENCE, "role": new.role, "email": new.email, "hash": new.password_hash,
         "confirmed": new.email_confirmed and new.email is not None, "app": Jsonb(new.app_metadata),
         "meta": Jsonb(new.user_metadata), "anon": new.is_anonymous})
    if new.email is not None:
        await add_email_identity(conn, user_id, new.email)
    found = await user_by_id(conn, user_id)
    assert found is not None  # inserted just above, in this transaction
    return found


async def add_email_identity(conn: psycopg.AsyncConnection, user_id: str, email: str) -> None:
    """The ``email`` identity GoTrue keeps for an email user (its provider_id is the user's id)."""
    data = {"sub": user_id, "email": email, "email_verified": True, "phone_verified": False}
    await conn.execute(
        """insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at,
                                        updated_at)
           values (%(id)s::text, %(id)s::uuid, %(data)s, 'email', now(), now(), now())
           on conflict (provider_id, provider) do update set identity_data = excluded.identity_data,
                                                               updated_at = now()""",
        {"id": user_id, "data": Jsonb(data)})


async def start_session(conn: psycopg.AsyncConnection, user_id: str, method: str, user_agent: str | None,
                        ip: str | None) -> Issued:
    """A new session with its first refresh token and its ``amr`` entry; the user's last sign-in is now."""
    session_id = str(uuid.uuid4())
    token = tokens.new_refresh_token()
    cur = await conn.execute(
        """with s as (insert into auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at, user_agent,
                                            ip)
                      values (%(sid)s::uuid, %(uid)s::uuid, now(), now(), 'aal1', now()::timestamp, %(agent)s,
                              %(ip)s::inet)),
                a as (insert into auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
                      values (%(sid)s::uuid, now(), now(), %(method)s, gen_random_uuid())),
                r as (insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at,
                                                       parent, session_id)
                      values ('00000000-0000-0000-0000-000000000000', %(token)s, %(uid)s::text, false, now(),
                              now(), null, %(sid)s::uuid))
           update auth.users set last_sign_in_at = now(), updated_at = now() where id = %(uid)s::uuid
           returning extract(epoch from now())::bigint""",
        {"sid": session_id, "uid": user_id, "agent": user_agent, "ip": ip, "method": method, "token": token})
    now = (await cur.fetchone())[0]
    return Issued(session_id, token, method, int(now))


async def refresh(conn: psycopg.AsyncConnection, token: str,
                  reuse_interval: float = REUSE_INTERVAL_SECONDS) -> tuple[UserRow, Issued] | None:
    """Rotate ``token`` inside the caller's transaction; raises GoTrue's errors. None when the token was used again
    after the reuse interval: its family is revoked, and the caller commits that before answering
    ``REUSED``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """select rt.id, rt.token, rt.revoked, rt.session_id, rt.user_id,
                      rt.updated_at + make_interval(secs => %(reuse)s) < now() as reuse_over,
                      a.authentication_method as method, extract(epoch from a.created_at)::bigint as method_at
               from auth.refresh_tokens rt
               left join auth.sessions s on s.id = rt.session_id
               left join lateral (select authentication_method, created_at from auth.mfa_amr_claims
                                  where session_id = s.id order by created_at limit 1) a on true
               where rt.token = %(token)s for update of rt""",
            {"token": token, "reuse": reuse_interval})
        found = await cur.fetchone()
    if found is None:
        raise errors.bad_request("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
    user = await user_by_id(conn, found["user_id"])
    if user is None or found["session_id"] is None:
        raise errors.bad_request("session_not_found", "Invalid Refresh Token: No Valid Session Found")
    if user.banned:
        raise errors.bad_request("user_banned", "Invalid Refresh Token: User Banned")
    session_id = str(found["session_id"])
    method = found["method"] or "password"
    method_at = int(found["method_at"] or 0)
    if found["revoked"]:
        cur = await conn.execute("""select token, parent from auth.refresh_tokens
                                    where session_id = %s and not revoked order by id desc limit 1""",
                                 (session_id,))
        active = await cur.fetchone()
        if active is not None and active[1] == token:
            # the client lost the answer to its last refresh: it gets the same child again
            return user, Issued(session_id, active[0], method, method_at)
        if found["reuse_over"]:
            await conn.execute("update auth.refresh_tokens set revoked = true, updated_at = now() "
                               "where session_id = %s and not revoked", (session_id,))
            return None
    child = tokens.new_refresh_token()
    await conn.execute(
        """with old as (update auth.refresh_tokens set revoked = true, updated_at = now() where id = %(id)s),
                s as (update auth.sessions set refreshed_at = now()::timestamp, updated_at = now()
                      where id = %(sid)s::uuid)
           insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent,
                                            session_id)
           values ('00000000-0000-0000-0000-000000000000', %(child)s, %(uid)s::text, false, now(), now(), %(token)s,
                   %(sid)s::uuid)""",
        {"id": found["id"], "sid": session_id, "child": child, "uid": user.id, "token": token})
    return user, Issued(session_id, child, method, method_at)


REUSED = ("refresh_token_already_used", "Invalid Refresh Token: Already Used")


async def session_exists(conn: psycopg.AsyncConnection, session_id: uuid.UUID) -> bool:
    cur = await conn.execute("select exists (select from auth.sessions where id = %s)", (session_id,))
    return bool((await cur.fetchone())[0])


async def end_sessions(conn: psycopg.AsyncConnection, user_id: str, session_id: uuid.UUID | None, scope: str) -> None:
    """logout.go: ``local`` ends this session, ``others`` every other one, ``global`` (or no session) all."""
    if session_id is not None and scope == "local":
        await conn.execute("delete from auth.sessions where id = %s", (session_id,))
    elif session_id is not None and scope == "others":
        await conn.execute("delete from auth.sessions where user_id = %s and id <> %s", (user_id, session_id))
    else:
        await conn.execute("delete from auth.sessions where user_id = %s", (user_id,))


@dataclass(frozen=True)
class Changes:
    """Columns to change on a user; None leaves one as it is. Metadata is merged key by key (``null`` removes a
    key), as models.User ``UpdateUserMetaData`` / ``UpdateAppMetaData`` do."""

    email: str | None = None
    password_hash: str | None = None
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None
    role: str | None = None
    email_confirm: bool | None = None
    banned_until: str | None = None  # an interval text, 'none' to lift a ban


async def update_user(conn: psycopg.AsyncConnection, user_id: str, changes: Changes) -> UserRow:
    """Apply ``changes``; an anonymous user given an email becomes a permanent email user."""
    await conn.execute(
        """update auth.users set
             email = coalesce(%(email)s::text, email),
             email_confirmed_at = case when %(email)s::text is not null or %(confirm)s::boolean is true
                                       then coalesce(email_confirmed_at, now())
                                       when %(confirm)s::boolean is false then null else email_confirmed_at end,
             is_anonymous = is_anonymous and %(email)s::text is null,
             encrypted_password = coalesce(%(hash)s::text, encrypted_password),
             raw_user_meta_data = case when %(meta)s::jsonb is null then raw_user_meta_data else
               jsonb_strip_nulls(coalesce(raw_user_meta_data, '{}') || %(meta)s::jsonb) end,
             raw_app_meta_data = case when %(email)s::text is not null and is_anonymous
                                      then coalesce(raw_app_meta_data, '{}')
                                           || '{"provider": "email", "providers": ["email"]}'
                                      else coalesce(raw_app_meta_data, '{}') end
                                 || coalesce(%(app)s::jsonb, '{}'),
             role = coalesce(%(role)s::text, role),
             banned_until = case when %(ban)s::text is null then banned_until when %(ban)s::text = 'none' then null
                                 else now() + %(ban)s::interval end,
             updated_at = now()
           where id = %(id)s::uuid""",
        {"id": user_id, "email": changes.email, "confirm": changes.email_confirm, "hash": changes.password_hash,
         "meta": None if changes.user_metadata is None else Jsonb(changes.user_metadata),
         "app": None if changes.app_metadata is None else Jsonb(changes.app_metadata), "role": changes.role,
         "ban": changes.banned_until})
    if changes.email is not None:
        await add_email_identity(conn, user_id, changes.email)
    found = await user_by_id(conn, user_id)
    assert found is not None  # the caller loaded it in this transaction
    return found


async def list_users(conn: psycopg.AsyncConnection, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
    """One page of users, oldest first (admin.go ``adminUsers`` sorts by created_at), and the total."""
    cur = await conn.execute("select count(*) from auth.users where aud = %s", (tokens.AUDIENCE,))
    total = int((await cur.fetchone())[0])
    query = sql.SQL("select {json} from auth.users u where u.aud = %s order by u.created_at, u.id "
                    "limit %s offset %s").format(json=_USER_JSON)
    cur = await conn.execute(query, (tokens.AUDIENCE, per_page, (page - 1) * per_page))
    return [row[0] for row in await cur.fetchall()], total


async def delete_user(conn: psycopg.AsyncConnection, user_id: str, soft: bool) -> None:
    """admin.go ``adminUserDelete``: a soft delete keeps an obfuscated row and ends its sessions."""
    if soft:
        await conn.execute(
            """update auth.users set deleted_at = now(), email = null, phone = null, encrypted_password = '',
                                     raw_user_meta_data = '{}', raw_app_meta_data = '{}', updated_at = now()
               where id = %s""", (user_id,))
        await conn.execute("delete from auth.identities where user_id = %s", (user_id,))
        await conn.execute("delete from auth.sessions where user_id = %s", (user_id,))
    else:
        await conn.execute("delete from auth.users where id = %s", (user_id,))
