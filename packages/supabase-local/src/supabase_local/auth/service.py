"""The Auth service of the stack: GoTrue's ``/auth/v1`` routes on the gateway, over a pool of connections as the
platform's own role (hosted GoTrue connects as ``supabase_auth_admin``, which owns ``auth``)."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from starlette.routing import BaseRoute, Route

from supabase_local.auth.admin import AdminEndpoints
from supabase_local.auth.context import AuthContext, answers
from supabase_local.auth.endpoint import PublicEndpoints
from supabase_local.auth.ratelimit import Limits
from supabase_local.pool_check import CheckWhenIdle
from supabase_local.state import StackState

PREFIX = "/auth/v1"
POOL_MIN, POOL_MAX = 1, 4
START_DEADLINE_SECONDS = 20.0


class AuthService:
    """Supabase Auth for what the official clients' auth API calls; see docs/contracts.md."""

    name = "auth"

    def __init__(self, state: StackState) -> None:
        self.pool = AsyncConnectionPool(state.admin_url, min_size=POOL_MIN, max_size=POOL_MAX, open=False,
                                        name="auth", kwargs={"application_name": "supabase_local.auth"},
                                        **CheckWhenIdle().pool_callbacks)
        self.ctx = AuthContext(self.pool, state.jwt_secret, f"{state.supabase_url}{PREFIX}", Limits.from_env())
        self.public = PublicEndpoints(self.ctx)
        self.admin = AdminEndpoints(self.ctx)

    def routes(self) -> list[BaseRoute]:
        """The paths supabase_auth's clients call (gotrue_client.py, gotrue_admin_api.py)."""
        public, admin = self.public, self.admin
        table = [
            ("/settings", public.settings, ["GET"]),
            ("/signup", public.signup, ["POST"]),
            ("/token", public.token, ["POST"]),
            ("/user", public.get_user, ["GET"]),
            ("/user", public.update_user, ["PUT"]),
            ("/logout", public.logout, ["POST"]),
            ("/admin/users", admin.list_users, ["GET"]),
            ("/admin/users", admin.create_user, ["POST"]),
            ("/admin/users/{user_id}", admin.get_user, ["GET"]),
            ("/admin/users/{user_id}", admin.update_user, ["PUT"]),
            ("/admin/users/{user_id}", admin.delete_user, ["DELETE"]),
        ]
        return [Route(PREFIX + path, answers(handler), methods=methods) for path, handler, methods in table]

    async def start(self) -> None:
        await self.pool.open(wait=True, timeout=START_DEADLINE_SECONDS)

    async def stop(self) -> None:
        await self.pool.close()

    def health(self) -> str | None:
        return None
