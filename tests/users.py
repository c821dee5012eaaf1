"""Signed-in users for the tests: jobs belong to a user, so whatever submits over the API signs in first, as an
app's visitor does (an anonymous sign-in: no email, a real user of the Auth service)."""

from __future__ import annotations

from supabase import AsyncClient, Client, acreate_client, create_client

from jobqueue.settings import Settings


def signed_in(settings: Settings) -> Client:
    """A sync client with the anon key, signed in as a new anonymous user."""
    client = create_client(settings.supabase_url, settings.anon_key)
    client.auth.sign_in_anonymously()
    return client


async def asigned_in(settings: Settings) -> AsyncClient:
    """An async client with the anon key, signed in as a new anonymous user (its Realtime socket uses the
    session's token)."""
    client = await acreate_client(settings.supabase_url, settings.anon_key)
    await client.auth.sign_in_anonymously()
    return client


def user_id(client: Client) -> str:
    """The id of the user ``client`` is signed in as."""
    session = client.auth.get_session()
    if session is None:
        raise RuntimeError("the client is not signed in")
    return session.user.id
