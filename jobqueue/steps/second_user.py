"""Two users in one notebook: a second visitor signs in (anonymously), gets a live table of their own on their
private topic ``jobs:<their id>`` and submits a job. Neither table ever shows the other's jobs; the second user can
neither read the first one's jobs over REST nor join the first one's topic. Row level security decides all three."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from supabase import AsyncClient

from jobqueue.feed import JobFeed
from jobqueue.job import Job
from jobqueue.jobs_async import enqueue_job, jobs_topic, visitor_client
from jobqueue.settings import Settings
from jobqueue.widgets.dashboard import Dashboard
from jobqueue.widgets.live_table import LiveJobTable

JOIN_SECONDS = 10.0


@dataclass
class SecondUser:
    """Another visitor of the same app: their client, topic and live table."""

    client: AsyncClient
    topic: str
    table: LiveJobTable

    @classmethod
    async def open(cls, settings: Settings, max_rows: int = 50) -> SecondUser:
        """Sign a new visitor in anonymously and subscribe their table to their own topic."""
        client = await visitor_client(settings)
        topic = await jobs_topic(client)
        if topic is None:
            raise RuntimeError("the second visitor has no session: anonymous sign-ins may be disabled")
        table = await LiveJobTable(JobFeed(client, max_rows=max_rows, topic=topic, name="second-user")).start()
        table.widget.add_class("jq-second-user")
        return cls(client, topic, table)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.table.widget)

    async def run(self, name: str, timeout: float) -> Job:
        """Submit one job as this user and wait, on their feed, until it has finished."""
        job = await enqueue_job(self.client, "echo", task_name=name)
        self.table.feed.apply(job)
        [done] = await self.table.feed.wait_for([job.job_id], timeout=timeout)
        return done

    async def can_join(self, topic: str) -> str:
        """Try to join ``topic`` as a private channel; the state Realtime answered (left again at once)."""
        answered: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        channel = self.client.channel(topic, {"config": {"private": True}})

        def state(status: object, error: Exception | None) -> None:
            if not answered.done():
                answered.set_result(f"{getattr(status, 'value', status)}" + (f" ({error})" if error else ""))

        await channel.subscribe(state)
        try:
            return await asyncio.wait_for(answered, JOIN_SECONDS)
        finally:
            await self.client.remove_channel(channel)

    async def close(self) -> None:
        """Leave the channel and stop the table's clock."""
        await self.table.stop()


async def isolation_notes(first: Dashboard, second: SecondUser) -> list[str]:
    """What each user can see of the other's jobs, checked three ways."""
    first_ids = {job.job_id for job in first.feed.rows()}
    second_ids = {job.job_id for job in second.table.feed.rows()}
    read = await second.client.table("job_results").select("job_id").in_("job_id", sorted(first_ids)).execute()
    first_topic = first.feed.topic or "(the first user has no topic)"
    return [
        f"the first user's table: {len(first_ids)} jobs, of the second user's: {len(first_ids & second_ids)}",
        f"the second user's table: {len(second_ids)} jobs, of the first user's: {len(second_ids & first_ids)}",
        f"the second user reads the first user's {len(first_ids)} jobs over REST: {len(read.data or [])} rows",
        f"the second user joins {first_topic}: {await second.can_join(first_topic)}",
    ]
