"""The official supabase client's auth calls against the stack's Auth service, end to end: what an app does to
sign users in and out, with the sync and the async client."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from supabase import acreate_client, create_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from supabase_local.state import StackState


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def test_anonymous_sign_in_gives_a_session_with_hosted_claims(stack: StackState, db: psycopg.Connection) -> None:
    client = create_client(stack.supabase_url, stack.anon_key)
    signed = client.auth.sign_in_anonymously({"options": {"data": {"nickname": "anna"}}})
    assert signed.user is not None and signed.session is not None
    assert signed.user.is_anonymous and signed.user.user_metadata == {"nickname": "anna"}
    claims = client.auth.get_claims()
    assert claims is not None
    payload = claims["claims"]
    assert payload["sub"] == signed.user.id and payload["role"] == "authenticated" and payload["aud"] == "authenticated"
    assert payload["is_anonymous"] is True and payload["session_id"] and payload["aal"] == "aal1"
    assert payload["amr"][0]["method"] == "anonymous"
    assert payload["iss"] == f"{stack.supabase_url}/auth/v1"
    row = db.execute("select is_anonymous, email from auth.users where id = %s", (signed.user.id,)).fetchone()
    assert row == (True, None)


def test_sign_up_then_sign_in_with_password(stack: StackState) -> None:
    client = create_client(stack.supabase_url, stack.anon_key)
    email = new_email()
    signed_up = client.auth.sign_up({"email": email, "password": "correct horse"})
    assert signed_up.session is not None and signed_up.user is not None
    assert signed_up.user.email == email and signed_up.user.email_confirmed_at is not None
    assert signed_up.user.app_metadata == {"provider": "email", "providers": ["email"]}
    assert [identity.provider for identity in signed_up.user.identities or []] == ["email"]

    other = create_client(stack.supabase_url, stack.anon_key)
    signed_in = other.auth.sign_in_with_password({"email": email.upper(), "password": "correct horse"})
    assert signed_in.user is not None and signed_in.user.id == signed_up.user.id
    user = other.auth.get_user()
    assert user is not None and user.user.email == email


def test_wrong_password_and_duplicate_sign_up_answer_as_gotrue(stack: StackState) -> None:
    client = create_client(stack.supabase_url, stack.anon_key)
    email = new_email()
    client.auth.sign_up({"email": email, "password": "correct horse"})
    with pytest.raises(AuthApiError) as wrong:
        client.auth.sign_in_with_password({"email": email, "password": "wrong horse"})
    assert (wrong.value.status, wrong.value.code, wrong.value.message) == (
        400, "invalid_credentials", "Invalid login credentials")
    with pytest.raises(AuthApiError) as again:
        client.auth.sign_up({"email": email, "password": "correct horse"})
    assert (again.value.status, again.value.code) == (422, "user_already_exists")
    with pytest.raises(AuthWeakPasswordError) as short:
        client.auth.sign_up({"email": new_email(), "password": "abc"})
    assert (short.value.status, short.value.code, short.value.reasons) == (422, "weak_password", ["length"])


def test_update_user_makes_an_anonymous_user_permanent(stack: StackState) -> None:
    client = create_client(stack.supabase_url, stack.anon_key)
    anonymous = client.auth.sign_in_anonymously()
    assert anonymous.user is not None
    with pytest.raises(AuthApiError) as refused:
        client.auth.update_user({"password": "secret-password"})
    assert refused.value.status == 422
    email = new_email()
    updated = client.auth.update_user({"email": email, "password": "secret-password", "data": {"plan": "pro"}})
    assert updated.user.id == anonymous.user.id and updated.user.email == email
    assert not updated.user.is_anonymous and updated.user.user_metadata == {"plan": "pro"}
    again = create_client(stack.supabase_url, stack.anon_key)
    signed = again.auth.sign_in_with_password({"email": email, "password": "secret-password"})
    assert signed.user is not None and signed.user.id == anonymous.user.id


def test_refresh_rotates_the_refresh_token(stack: StackState) -> None:
    client = create_client(stack.supabase_url, stack.anon_key)
    first = client.auth.sign_in_anonymously().session
    assert first is not None
    refreshed = client.auth.refresh_session().session
    assert refreshed is not None and refreshed.refresh_token != first.refresh_token
    assert refreshed.user.id == first.user.id
    with pytest.raises(AuthApiError) as bad:
        client.auth.refresh_session("not-a-token")
    assert (bad.value.status, bad.value.code) == (400, "validation_failed")


def test_refresh_token_reuse_revokes_the_session_family(stack: StackState, admin_db: psycopg.Connection) -> None:
    """A refresh token used again after the reuse interval (moved back in SQL, not waited for) revokes every token
    of its session: the thief's and the owner's newest alike (tokens/service.go ``RefreshTokenGrant``)."""
    client = create_client(stack.supabase_url, stack.anon_key)
    first = client.auth.sign_in_anonymously().session
    assert first is not None
    client.auth.refresh_session()
    newest = client.auth.refresh_session().session
    assert newest is not None
    rewind = "update auth.refresh_tokens set updated_at = updated_at - interval '1 minute' where token = %s"
    admin_db.execute(rewind, (first.refresh_token,))
    with pytest.raises(AuthApiError) as reused:
        client.auth.refresh_session(first.refresh_token)
    assert (reused.value.status, reused.value.code, reused.value.message) == (
        400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
    admin_db.execute(rewind, (newest.refresh_token,))
    with pytest.raises(AuthApiError) as owner:
        client.auth.refresh_session(newest.refresh_token)
    assert owner.value.code == "refresh_token_already_used"
    active = admin_db.execute("select count(*) from auth.refresh_tokens where user_id = %s and not revoked",
                              (first.user.id,)).fetchone()
    assert active == (0,)


def test_a_lost_refresh_answer_gives_the_same_child_again(stack: StackState) -> None:
    client = create_client(stack.supabase_url, stack.anon_key)
    first = client.auth.sign_in_anonymously().session
    assert first is not None
    child = client.auth.refresh_session(first.refresh_token).session
    again = client.auth.refresh_session(first.refresh_token).session
    assert child is not None and again is not None and again.refresh_token == child.refresh_token


def test_sign_out_scopes(stack: StackState) -> None:
    email, password = new_email(), "correct horse"
    phone = create_client(stack.supabase_url, stack.anon_key)
    phone.auth.sign_up({"email": email, "password": password})
    laptop = create_client(stack.supabase_url, stack.anon_key)
    laptop.auth.sign_in_with_password({"email": email, "password": password})
    tablet = create_client(stack.supabase_url, stack.anon_key)
    tablet.auth.sign_in_with_password({"email": email, "password": password})
    tablet_refresh = tablet.auth.get_session().refresh_token  # type: ignore[union-attr]

    phone.auth.sign_out({"scope": "others"})
    assert phone.auth.get_user() is not None
    for ended in (laptop, tablet):
        with pytest.raises(AuthApiError) as gone:
            ended.auth.get_user(ended.auth.get_session().access_token)  # type: ignore[union-attr]
        assert (gone.value.status, gone.value.code) == (403, "session_not_found")
    with pytest.raises(AuthApiError):
        tablet.auth.refresh_session(tablet_refresh)

    phone.auth.sign_out({"scope": "local"})
    assert phone.auth.get_session() is None


def test_global_sign_out_ends_every_session(stack: StackState) -> None:
    email, password = new_email(), "correct horse"
    one = create_client(stack.supabase_url, stack.anon_key)
    one.auth.sign_up({"email": email, "password": password})
    two = create_client(stack.supabase_url, stack.anon_key)
    two_session = two.auth.sign_in_with_password({"email": email, "password": password}).session
    assert two_session is not None
    one.auth.sign_out()
    with pytest.raises(AuthApiError) as gone:
        two.auth.get_user(two_session.access_token)
    assert gone.value.code == "session_not_found"


async def test_async_client_signs_in_refreshes_and_signs_out(stack: StackState) -> None:
    client = await acreate_client(stack.supabase_url, stack.anon_key)
    email = new_email()
    signed = await client.auth.sign_up({"email": email, "password": "correct horse"})
    assert signed.session is not None
    refreshed = await client.auth.refresh_session()
    assert refreshed.session is not None and refreshed.session.refresh_token != signed.session.refresh_token
    user = await client.auth.get_user()
    assert user is not None and user.user.email == email
    await client.auth.sign_out()
    assert await client.auth.get_session() is None


def test_settings_say_anonymous_and_email_sign_ins_are_on(stack: StackState) -> None:
    client = create_client(stack.supabase_url, stack.anon_key)
    settings = client.auth._request("GET", "settings").json()
    assert settings["external"]["anonymous_users"] and settings["external"]["email"]
    assert settings["mailer_autoconfirm"] and not settings["disable_signup"]
