"""Step 2: the producer panel. A **Like** button and a rate slider (likes per second) that call
``toggle_post_like`` with the anon key, each like from a new session, as visitors of the app would.

Widget callbacks may arrive on a kernel subshell thread with a loop of its own: every click and slider change is
handed to the loop the panel was opened on, where its one producing task runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid

import ipywidgets as widgets
from postgrest.exceptions import APIError
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from jobqueue.lab.fanout import like, new_post
from jobqueue.lab.pacing import at_slider_rate
from jobqueue.settings import Settings

MAX_RATE = 50


class Producer:
    """Likes on a few posts: one per click, and ``rate`` per second while the slider is above zero."""

    def __init__(self, client: AsyncClient, post_ids: list[str]) -> None:
        self._client = client
        self.post_ids = post_ids
        self._loop = asyncio.get_running_loop()
        self.sent = 0
        self.refused = 0
        self.button = widgets.Button(description="Like", icon="heart", button_style="danger")
        self.rate = widgets.IntSlider(value=0, min=0, max=MAX_RATE, description="likes/s")
        self.status = widgets.HTML()
        self.button.on_click(lambda _: self._loop.call_soon_threadsafe(self._like_once_soon))
        self._clicks: set[asyncio.Task[None]] = set()
        self._task = self._loop.create_task(at_slider_rate(self.rate, self._like_once))
        self._render()

    @classmethod
    async def open(cls, settings: Settings, posts: int = 3) -> Producer:
        """A panel liking ``posts`` new posts with the anon key."""
        options = AsyncClientOptions(auto_refresh_token=False, persist_session=False)
        client = await acreate_client(settings.supabase_url, settings.anon_key, options)
        return cls(client, [new_post(settings, f"post {n + 1}") for n in range(posts)])

    def widget(self) -> widgets.Widget:
        """The panel: button, slider and counts."""
        return widgets.VBox([widgets.HBox([self.button, self.rate]), self.status])

    def _render(self) -> None:
        self.status.value = (f"<b>{self.sent}</b> likes sent by this panel"
                             + (f", <b>{self.refused}</b> refused" if self.refused else ""))

    def _like_once_soon(self) -> None:
        task = self._loop.create_task(self._like_once())
        self._clicks.add(task)
        task.add_done_callback(self._clicks.discard)

    async def _like_once(self) -> None:
        try:
            await like(self._client, random.choice(self.post_ids), f"visitor-{uuid.uuid4().hex[:16]}")
            self.sent += 1
        except APIError:
            self.refused += 1
        self._render()

    async def run_for(self, seconds: float, rate: int) -> int:
        """Produce at ``rate`` likes per second for ``seconds`` (what moving the slider does), then stop; the
        number of likes sent meanwhile."""
        before = self.sent
        self.rate.value = rate
        await asyncio.sleep(seconds)
        self.rate.value = 0
        return self.sent - before

    async def close(self) -> None:
        """Stop producing and close the client."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._client.postgrest.aclose()
