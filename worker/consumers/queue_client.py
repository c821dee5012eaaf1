"""The consumers' way to the database: PGMQ through ``pgmq_public`` and the lab's RPCs, over REST with the
service-role key, as the seed's Edge Functions reach it. A batch costs one call to read and one to acknowledge."""

from __future__ import annotations

from typing import Any

from postgrest import ReturnMethod
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from worker.consumers.messages import Message


class QueueClient:
    """Reads, acknowledges and dead-letters batches, and writes what the handlers produce."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._queues = client.schema("pgmq_public")

    @classmethod
    async def connect(cls, supabase_url: str, service_role_key: str) -> QueueClient:
        """A service-role client; no session is stored or refreshed."""
        options = AsyncClientOptions(auto_refresh_token=False, persist_session=False)
        return cls(await acreate_client(supabase_url, service_role_key, options))

    async def read(self, queue: str, visibility_seconds: int, qty: int) -> list[Message]:
        """Up to ``qty`` visible messages, hidden from other readers for ``visibility_seconds``."""
        response = await self._queues.rpc("read", {"queue_name": queue, "sleep_seconds": visibility_seconds,
                                                   "n": qty}).execute()
        return [Message.model_validate(row) for row in response.data or []]

    async def read_with_poll(self, queue: str, visibility_seconds: int, qty: int,
                             max_poll_seconds: int) -> list[Message]:
        """As ``read``, but waits up to ``max_poll_seconds`` in the database for the first message."""
        response = await self._client.rpc("read_messages_with_poll", {
            "queue_name": queue, "visibility_seconds": visibility_seconds, "qty": qty,
            "max_poll_seconds": max_poll_seconds}).execute()
        return [Message.model_validate(row) for row in response.data or []]

    async def acknowledge(self, queue: str, msg_ids: list[int], archive: bool) -> list[int]:
        """Delete (or archive) the whole batch in one call; the ids that were still queued."""
        response = await self._client.rpc("acknowledge_messages", {"queue_name": queue, "msg_ids": msg_ids,
                                                                   "archive": archive}).execute()
        return list(response.data or [])

    async def acknowledge_and_read(self, queue: str, msg_ids: list[int], archive: bool, visibility_seconds: int,
                                   qty: int) -> list[Message]:
        """Acknowledge a handled batch and read the next in one call (one transaction)."""
        response = await self._client.rpc("acknowledge_and_read", {
            "queue_name": queue, "msg_ids": msg_ids, "archive": archive, "visibility_seconds": visibility_seconds,
            "qty": qty}).execute()
        return [Message.model_validate(row) for row in response.data or []]

    async def dead_letter(self, queue: str, msg_ids: list[int], reason: str) -> list[int]:
        """Move the messages to the queue's DLQ in one call; the ids that moved."""
        response = await self._client.rpc("dead_letter_messages", {"queue_name": queue, "msg_ids": msg_ids,
                                                                   "reason": reason}).execute()
        return list(response.data or [])

    async def rpc(self, name: str, args: dict[str, Any]) -> Any:
        """Call ``public.<name>``: one transaction in the database."""
        return (await self._client.rpc(name, args).execute()).data

    async def insert_new(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert the rows whose ``id`` is new, in one statement; rows already there are left as they are."""
        await self._client.table(table).upsert(rows, on_conflict="id", ignore_duplicates=True,
                                               returning=ReturnMethod.minimal).execute()

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._client.postgrest.aclose()
