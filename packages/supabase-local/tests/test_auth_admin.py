"""The admin user API with the service-role key, through the official client's ``auth.admin``."""

from __future__ import annotations

import uuid

import pytest
from supabase import create_client
from supabase_auth.errors import AuthApiError

from stack_support.auth import auth_call, new_email
from supabase_local.state import StackState


def test_create_get_update_and_delete_a_user(stack: StackState) -> None:
    admin = create_client(stack.supabase_url, stack.service_role_key).auth.admin
    email = new_email()
    created = admin.create_user({"email": email, "password": "correct horse", "email_confirm": True,
                                 "user_metadata": {"name": "Ada"}, "app_metadata": {"plan": "pro"}})
    user = created.user
    assert user.email == email and user.user_metadata == {"name": "Ada"}
    assert user.app_metadata == {"provider": "email", "providers": ["email"], "plan": "pro"}
    assert admin.get_user_by_id(user.id).user.email == email

    signed = create_client(stack.supabase_url, stack.anon_key).auth.sign_in_with_password(
        {"email": email, "password": "correct horse"})
    assert signed.user is not None and signed.user.id == user.id

    updated = admin.update_user_by_id(user.id, {"user_metadata": {"name": "Ada L."}, "password": "new horse!"})
    assert updated.user.user_metadata == {"name": "Ada L."}
    with pytest.raises(AuthApiError) as duplicate:
        admin.create_user({"email": email, "password": "correct horse"})
    assert (duplicate.value.status, duplicate.value.code) == (422, "email_exists")

    admin.delete_user(user.id)
    with pytest.raises(AuthApiError) as gone:
        admin.get_user_by_id(user.id)
    assert (gone.value.status, gone.value.code) == (404, "user_not_found")


def test_unconfirmed_users_cannot_sign_in(stack: StackState) -> None:
    admin = create_client(stack.supabase_url, stack.service_role_key).auth.admin
    email = new_email()
    admin.create_user({"email": email, "password": "correct horse"})
    with pytest.raises(AuthApiError) as refused:
        create_client(stack.supabase_url, stack.anon_key).auth.sign_in_with_password(
            {"email": email, "password": "correct horse"})
    assert refused.value.code == "email_not_confirmed"


def test_list_users_pages(stack: StackState) -> None:
    admin = create_client(stack.supabase_url, stack.service_role_key).auth.admin
    for _ in range(3):
        admin.create_user({"email": new_email(), "email_confirm": True})
    first = admin.list_users(page=1, per_page=2)
    second = admin.list_users(page=2, per_page=2)
    assert len(first) == 2 and second and not {u.id for u in first} & {u.id for u in second}
    raw = auth_call(stack, "GET", "admin/users", token=stack.service_role_key, params={"per_page": "2"})
    assert int(raw.headers["x-total-count"]) >= 3 and 'rel="next"' in raw.headers["link"]
    bad = auth_call(stack, "GET", "admin/users", token=stack.service_role_key, params={"page": "x"})
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_failed")


def test_ids_must_be_uuids(stack: StackState) -> None:
    answer = auth_call(stack, "GET", "admin/users/not-a-uuid", token=stack.service_role_key)
    assert (answer.status_code, answer.json()["message"]) == (404, "user_id must be an UUID")
    missing = auth_call(stack, "DELETE", f"admin/users/{uuid.uuid4()}", token=stack.service_role_key)
    assert (missing.status_code, missing.json()["code"]) == (404, "user_not_found")


def test_a_banned_user_cannot_sign_in_or_refresh_until_the_ban_is_lifted(stack: StackState) -> None:
    admin = create_client(stack.supabase_url, stack.service_role_key).auth.admin
    email = new_email()
    user = admin.create_user({"email": email, "password": "correct horse", "email_confirm": True}).user
    client = create_client(stack.supabase_url, stack.anon_key)
    session = client.auth.sign_in_with_password({"email": email, "password": "correct horse"}).session
    assert session is not None
    admin.update_user_by_id(user.id, {"ban_duration": "1h30m"})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(AuthApiError) as banned:
        create_client(stack.supabase_url, stack.anon_key).auth.sign_in_with_password(
            {"email": email, "password": "correct horse"})
    assert banned.value.code == "user_banned"
    with pytest.raises(AuthApiError) as refresh:
        client.auth.refresh_session(session.refresh_token)
    assert refresh.value.code == "user_banned"
    admin.update_user_by_id(user.id, {"ban_duration": "none"})  # type: ignore[typeddict-unknown-key]
    assert client.auth.refresh_session(session.refresh_token).session is not None
