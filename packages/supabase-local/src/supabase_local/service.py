"""The contract every part of the stack's services process fulfils (pg_net dispatcher, cron, REST, Realtime)."""

from __future__ import annotations

from typing import Protocol

from starlette.routing import BaseRoute

from supabase_local.pg_listener import Listener
from supabase_local.state import StackState


class Service(Protocol):
    """One part of the stack. ``start`` returns when it is ready; ``stop`` releases everything it holds. A service
    may also have ``front(app) -> app``, which the gateway wraps around the Starlette app (``build_gateway``)."""

    name: str

    def routes(self) -> list[BaseRoute]:
        """Routes it adds to the gateway (empty for background-only services)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> str | None:
        """None when healthy, else a short reason shown by ``/health`` and ``status``."""
        ...


class ServiceFactory(Protocol):
    """Makes a service of the stack; services woken by NOTIFY subscribe to the process's one ``listener``."""

    def __call__(self, state: StackState, listener: Listener) -> Service: ...
