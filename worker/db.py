"""The worker's only way to the database: RPCs through supabase-py with the service-role key."""

from __future__ import annotations

from typing import Any

from supabase import AsyncClient, AsyncClientOptions, acreate_client

from worker.config import WorkerConfig


class SupabaseRpc:
    """Calls ``public.<name>(args)`` over the REST API, exactly as it would against hosted Supabase."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def __call__(self, name: str, args: dict[str, Any]) -> Any:
        """Run one RPC (one transaction in the database) and return its JSON result."""
        response = await self._client.rpc(name, args).execute()
        return response.data

    async def close(self) -> None:
        """Close the HTTP connections of the client."""
        await self._client.postgrest.aclose()


async def connect(config: WorkerConfig) -> SupabaseRpc:
    """A service-role client for the configured project; no session is stored or refreshed."""
    options = AsyncClientOptions(auto_refresh_token=False, persist_session=False)
    client = await acreate_client(config.supabase_url, config.service_role_key, options)
    return SupabaseRpc(client)
