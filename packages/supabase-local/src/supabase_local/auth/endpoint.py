"""The public ``/auth/v1`` endpoints: sign-up (anonymous or email and password), the token grants, the signed-in
user, sign-out and the settings. Each cites the GoTrue handler (github.com/supabase/auth internal/api) it follows.
Email confirmation is off, as in the Supabase CLI's local default: a sign-up signs in at once."""

from __future__ import annotations

import psycopg
from starlette.requests import Request
from starlette.responses import Response

from supabase_local.auth import bodies, errors, passwords, store, tokens
from supabase_local.auth.context import AuthContext, client_address, ok, valid_email

EMAIL_PROVIDER = {"provider": "email", "providers": ["email"]}
LOGOUT_SCOPES = ("global", "local", "others")
_ENABLED_PROVIDERS = ("anonymous_users", "email")
_OTHER_PROVIDERS = ("apple", "azure", "bitbucket", "discord", "facebook", "snapchat", "figma", "fly", "github",
                    "gitlab", "google", "keycloak", "kakao", "linkedin", "linkedin_oidc", "notion", "spotify",
                    "slack", "slack_oidc", "workos", "twitch", "twitter", "phone", "zoom")


class PublicEndpoints:
    """What an application's users call, with the anon key or their own access token."""

    def __init__(self, ctx: AuthContext) -> None:
        self.ctx = ctx

    async def settings(self, _: Request) -> Response:
        """settings.go ``Settings``."""
        external = {name: True for name in _ENABLED_PROVIDERS} | {name: False for name in _OTHER_PROVIDERS}
        return ok({"external": external, "disable_signup": False, "mailer_autoconfirm": True,
                   "phone_autoconfirm": False, "sms_provider": "", "saml_enabled": False,
                   "saml_private_key_next_configured": False, "passkeys_enabled": False})

    async def signup(self, request: Request) -> Response:
        """api.go's ``/signup`` route: no email and no phone is an anonymous sign-in (anonymous.go), else signup.go."""
        params = bodies.parse(bodies.SignupParams, await request.body())
        if not params.email and not params.phone:
            self.ctx.limits.anonymous.take(client_address(request))
            new = store.NewUser(None, None, params.data or {}, {}, is_anonymous=True)
            return await self._sign_up(request, new, "anonymous")
        self.ctx.limits.signups.take(client_address(request))
        if params.email and params.phone:
            raise errors.validation("Only an email address or phone number should be provided on signup.")
        if not params.password:
            raise errors.validation("Signup requires a valid password")
        passwords.check_strength(params.password)
        if params.phone:
            raise errors.bad_request("phone_provider_disabled", "Phone signups are disabled")
        email = valid_email(params.email or "")
        async with self.ctx.transaction() as conn:
            if await store.email_taken(conn, email):
                raise errors.unprocessable("user_already_exists", "User already registered")
        new = store.NewUser(email, await passwords.hash_password(params.password), params.data or {},
                            dict(EMAIL_PROVIDER), is_anonymous=False)
        return await self._sign_up(request, new, "password")

    async def _sign_up(self, request: Request, new: store.NewUser, method: str) -> Response:
        async with self.ctx.transaction() as conn:
            user = await store.insert_user(conn, new)
            return await self._signed_in(request, conn, user.id, method)

    async def _signed_in(self, request: Request, conn: psycopg.AsyncConnection, user_id: str,
                         method: str) -> Response:
        """A new session for the user, answered as tokens.AccessTokenResponse with the user as it is now."""
        issued = await store.start_session(conn, user_id, method, request.headers.get("user-agent"),
                                           client_address(request))
        user = await store.user_by_id(conn, user_id)
        assert user is not None  # the caller found or made it in this transaction
        return ok(self.ctx.session_body(user, issued))

    async def token(self, request: Request) -> Response:
        """token.go ``Token``: the password and refresh_token grants, under the ``/token`` rate limit."""
        grant_type = request.query_params.get("grant_type", "")
        if grant_type not in ("password", "refresh_token"):
            raise errors.bad_request("invalid_credentials", "unsupported_grant_type")
        self.ctx.limits.token.take(client_address(request))
        if grant_type == "password":
            return await self._password_grant(request)
        return await self._refresh_grant(request)

    async def _password_grant(self, request: Request) -> Response:
        """token.go ``ResourceOwnerPasswordGrant``."""
        params = bodies.parse(bodies.PasswordGrantParams, await request.body())
        if params.email and params.phone:
            raise errors.validation("Only an email address or phone number should be provided on login.")
        if params.phone:
            raise errors.unprocessable("phone_provider_disabled", "Phone logins are disabled")
        if not params.email:
            raise errors.validation("missing email or phone")
        async with self.ctx.transaction() as conn:
            user = await store.user_by_email(conn, params.email.lower())
        if user is None or not await passwords.matches(params.password or "", user.encrypted_password):
            raise errors.bad_request("invalid_credentials", errors.INVALID_LOGIN)
        if user.banned:
            raise errors.bad_request("user_banned", "User is banned")
        if "email_confirmed_at" not in user.body:
            raise errors.bad_request("email_not_confirmed", "Email not confirmed")
        async with self.ctx.transaction() as conn:
            return await self._signed_in(request, conn, user.id, "password")

    async def _refresh_grant(self, request: Request) -> Response:
        """token_refresh.go ``RefreshTokenGrant`` with tokens/service.go's rotation and reuse detection."""
        params = bodies.parse(bodies.RefreshTokenGrantParams, await request.body())
        if not tokens.valid_refresh_token_shape(params.refresh_token or ""):
            raise errors.validation("Refresh token is not valid")
        async with self.ctx.transaction() as conn:
            refreshed = await store.refresh(conn, params.refresh_token or "", self.ctx.reuse_interval)
        if refreshed is None:  # the family's revocation is committed
            raise errors.bad_request(*store.REUSED)
        return ok(self.ctx.session_body(*refreshed))

    async def get_user(self, request: Request) -> Response:
        """user.go ``UserGet``."""
        async with self.ctx.transaction() as conn:
            user, _, claims = await self.ctx.caller(request, conn)
        tokens.check_audience(claims)
        return ok(user.body)

    async def update_user(self, request: Request) -> Response:
        """user.go ``UserUpdate``: email (confirmed at once), password, ``data``; ``app_metadata`` is admin-only."""
        params = bodies.parse(bodies.UserUpdateParams, await request.body())
        if params.app_metadata is not None:
            raise errors.forbidden("not_admin", "Updating app_metadata requires admin privileges")
        if params.phone:
            raise errors.unprocessable("phone_provider_disabled", "Phone logins are disabled")
        email = valid_email(params.email) if params.email else None
        async with self.ctx.transaction() as conn:
            user, _, _ = await self.ctx.caller(request, conn)
            if email == user.body["email"]:
                email = None
            if params.password is not None and user.body["is_anonymous"] and not user.body["email"] and not email:
                raise errors.unprocessable("validation_failed", "Updating password of an anonymous user without an "
                                                                "email or phone is not allowed")
            if email is not None and await store.email_taken(conn, email, user.id):
                raise errors.unprocessable("email_exists", errors.DUPLICATE_EMAIL)
            password_hash = await self._new_password(params.password, user)
            user = await store.update_user(conn, user.id, store.Changes(email=email, password_hash=password_hash,
                                                                        user_metadata=params.data))
        return ok(user.body)

    @staticmethod
    async def _new_password(password: str | None, user: store.UserRow) -> str | None:
        if password is None:
            return None
        passwords.check_strength(password)
        if await passwords.matches(password, user.encrypted_password):
            raise errors.unprocessable("same_password", "New password should be different from the old password.")
        return await passwords.hash_password(password)

    async def logout(self, request: Request) -> Response:
        """logout.go ``Logout``: 204; ``scope`` is global (the default), local or others."""
        scope = request.query_params.get("scope") or "global"
        if scope not in LOGOUT_SCOPES:
            raise errors.validation(f'Unsupported logout scope "{scope}"')
        async with self.ctx.transaction() as conn:
            user, session_id, _ = await self.ctx.caller(request, conn)
            await store.end_sessions(conn, user.id, session_id, scope)
        return Response(status_code=204)
