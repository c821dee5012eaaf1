"""One event loop owns a piece of state; callers on other threads hand their work to it instead of locking.

JupyterLab with ipykernel 7 may deliver a widget's callback on a kernel subshell thread, which runs its own event
loop. Anything such a callback shares with a task on the kernel's main loop (the Realtime listener, the job
model) is handed to the owning loop with ``call_soon_threadsafe`` or ``run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopBound:
    """The event loop (and its thread) that owns some state, and the ways to reach it from anywhere."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self._thread = threading.get_ident() if loop is None else None
        self._tasks: set[asyncio.Task[Any]] = set()

    def here(self) -> bool:
        """True when the caller runs on the owning loop (not merely in some other running loop)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if running is not self.loop:
            return False
        if self._thread is None:
            self._thread = threading.get_ident()
        return self._thread == threading.get_ident()

    def require(self, what: str) -> None:
        """Refuse to touch owned state from another loop or thread: that is how a model gets corrupted."""
        if not self.here():
            raise RuntimeError(f"{what} must run on the loop that owns it; hand it over with LoopBound.call")

    def call(self, function: Callable[..., object], *args: object) -> None:
        """Run ``function(*args)`` on the owning loop: now when already there, else as soon as the loop can."""
        if self.here():
            function(*args)
        else:
            self.loop.call_soon_threadsafe(function, *args)

    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T] | concurrent.futures.Future[T]:
        """Run ``coroutine`` as a task of the owning loop, from any thread; the task is kept until it ends."""
        if not self.here():
            return asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` on the owning loop, from a coroutine on any loop."""
        if self.here():
            return await coroutine
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def cancel_all(self) -> None:
        """Cancel the tasks spawned here that still run (on the owning loop)."""
        for task in list(self._tasks):
            task.cancel()
