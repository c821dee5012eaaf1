"""``/auth/v1/admin/users``: the user administration a service-role key may do (GoTrue internal/api/admin.go,
pagination.go)."""

from __future__ import annotations

import re
import uuid

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from supabase_local.auth import bodies, errors, passwords, store, tokens
from supabase_local.auth.context import AuthContext, ok, valid_email
from supabase_local.auth.endpoint import EMAIL_PROVIDER

DEFAULT_PER_PAGE = 50  # pagination.go defaultPerPage
MAX_PAGE = 2**31
# Go's time.ParseDuration units, which ban_duration is read with.
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _page_number(raw: str | None, default: int) -> int:
    """pagination.go ``paginate``: an unsigned integer, else 400 ``validation_failed``."""
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 0 < int(raw) <= MAX_PAGE:
        raise errors.validation(f'Bad Pagination Parameters: strconv.ParseUint: parsing "{raw}": invalid syntax')
    return int(raw)


def ban_interval(duration: str | None) -> str | None:
    """admin.go's ``ban_duration``: ``none`` lifts a ban, else a Go duration (``24h``, ``1h30m``) as seconds."""
    if duration is None or duration == "none":
        return duration
    if not duration or _DURATION_PART.sub("", duration) != "":
        raise errors.validation(f'invalid format for ban duration: time: invalid duration "{duration}"')
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(duration))
    return f"{seconds} seconds"


def _user_id(request: Request) -> str:
    """admin.go ``loadUser``: the path's user id must be a UUID (404 otherwise, as GoTrue answers)."""
    raw = request.path_params["user_id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError as error:
        raise errors.not_found("validation_failed", "user_id must be an UUID") from error


class AdminEndpoints:
    """Create, list, get, update and delete users; every call needs a token with an admin role."""

    def __init__(self, ctx: AuthContext) -> None:
        self.ctx = ctx

    async def list_users(self, request: Request) -> Response:
        """admin.go ``adminUsers``: ``{"users", "aud"}`` with ``X-Total-Count`` and a ``Link`` header."""
        self.ctx.require_admin(request)
        page = _page_number(request.query_params.get("page"), 1)
        per_page = _page_number(request.query_params.get("per_page"), DEFAULT_PER_PAGE)
        async with self.ctx.transaction() as conn:
            users, total = await store.list_users(conn, page, per_page)
        pages = -(-total // per_page)
        links = []
        if pages > page:
            links.append(f'<{request.url.include_query_params(page=page + 1)}>; rel="next"')
        links.append(f'<{request.url.include_query_params(page=pages)}>; rel="last"')
        return JSONResponse({"users": users, "aud": tokens.AUDIENCE},
                            headers={"Link": ", ".join(links), "X-Total-Count": str(total)})

    async def create_user(self, request: Request) -> Response:
        """admin.go ``adminUserCreate``."""
        self.ctx.require_admin(request)
        params = bodies.parse(bodies.AdminUserParams, await request.body())
        if not params.email and not params.phone:
            raise errors.validation("Cannot create a user without either an email or phone")
        if params.phone:
            raise errors.bad_request("phone_provider_disabled", "Phone signups are disabled")
        email = valid_email(params.email or "")
        user_id = self._new_id(params.id)
        password_hash = None
        if params.password is not None:
            passwords.check_strength(params.password)
            password_hash = await passwords.hash_password(params.password)
        banned = ban_interval(params.ban_duration)
        async with self.ctx.transaction() as conn:
            if await store.email_taken(conn, email):
                raise errors.unprocessable("email_exists", errors.DUPLICATE_EMAIL)
            user = await store.insert_user(conn, store.NewUser(
                email, password_hash, params.user_metadata or {}, {**EMAIL_PROVIDER, **(params.app_metadata or {})},
                is_anonymous=False, role=params.role or tokens.AUDIENCE, user_id=user_id,
                email_confirmed=bool(params.email_confirm)))
            if banned is not None:
                user = await store.update_user(conn, user.id, store.Changes(banned_until=banned))
        return ok(user.body)

    @staticmethod
    def _new_id(raw: str | None) -> str | None:
        if raw is None:
            return None
        try:
            chosen = uuid.UUID(raw)
        except ValueError as error:
            raise errors.validation("ID must conform to the uuid v4 format") from error
        if chosen.int == 0:
            raise errors.validation("ID cannot be a nil uuid")
        return str(chosen)

    async def get_user(self, request: Request) -> Response:
        """admin.go ``adminUserGet``."""
        self.ctx.require_admin(request)
        async with self.ctx.transaction() as conn:
            user = await self._load(conn, _user_id(request))
        return ok(user.body)

    async def update_user(self, request: Request) -> Response:
        """admin.go ``adminUserUpdate``: email, password, confirmation, metadata, role and bans."""
        self.ctx.require_admin(request)
        user_id = _user_id(request)
        params = bodies.parse(bodies.AdminUserParams, await request.body())
        if params.phone:
            raise errors.bad_request("phone_provider_disabled", "Phone signups are disabled")
        email = valid_email(params.email) if params.email else None
        password_hash = None
        if params.password is not None:
            passwords.check_strength(params.password)
            password_hash = await passwords.hash_password(params.password)
        changes = store.Changes(email=email, password_hash=password_hash, user_metadata=params.user_metadata,
                                app_metadata=params.app_metadata, role=params.role,
                                email_confirm=params.email_confirm, banned_until=ban_interval(params.ban_duration))
        async with self.ctx.transaction() as conn:
            await self._load(conn, user_id, lock=True)
            if email is not None and await store.email_taken(conn, email, user_id):
                raise errors.unprocessable("email_exists", errors.DUPLICATE_EMAIL)
            user = await store.update_user(conn, user_id, changes)
        return ok(user.body)

    async def delete_user(self, request: Request) -> Response:
        """admin.go ``adminUserDelete``: ``{}``; ``should_soft_delete`` keeps an anonymised row."""
        self.ctx.require_admin(request)
        user_id = _user_id(request)
        params = bodies.parse(bodies.AdminDeleteParams, await request.body(), empty_ok=True)
        async with self.ctx.transaction() as conn:
            await self._load(conn, user_id, lock=True)
            await store.delete_user(conn, user_id, bool(params.should_soft_delete))
        return ok({})

    @staticmethod
    async def _load(conn: psycopg.AsyncConnection, user_id: str, lock: bool = False) -> store.UserRow:
        user = await store.user_by_id(conn, user_id, lock)
        if user is None:
            raise errors.not_found("user_not_found", "User not found")
        return user
