"""The shape of the worker's one way to the database: ``await rpc(name, args)`` runs ``public.<name>``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Rpc = Callable[[str, dict[str, Any]], Awaitable[Any]]


class RpcClient(Protocol):
    """An RPC caller that holds connections: ``await rpc(name, args)``, then ``await rpc.close()``."""

    async def __call__(self, name: str, args: dict[str, Any]) -> Any: ...

    async def close(self) -> None: ...
