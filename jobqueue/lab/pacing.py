"""What the producer and chaos panels share: an action repeated at the rate a slider shows, per second."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import ipywidgets as widgets

IDLE_SECONDS = 0.2


async def at_slider_rate(rate: widgets.IntSlider, action: Callable[[], Awaitable[None]]) -> None:
    """Run ``action`` ``rate.value`` times a second, read again before each run; idle while it is 0."""
    loop = asyncio.get_running_loop()
    while True:
        per_second = rate.value
        if per_second <= 0:
            await asyncio.sleep(IDLE_SECONDS)
            continue
        started = loop.time()
        await action()
        await asyncio.sleep(max(0.0, 1 / per_second - (loop.time() - started)))
