"""A PgQueuer consumer with one no-op entrypoint, run as its own process so its CPU can be measured apart.

    python bench/pgqueuer_consumer.py DB_URL [--batch-size 10]

Runs until SIGTERM or SIGINT. The end-to-end benchmark starts it beside our worker on the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import psycopg
from pgqueuer import PsycopgDriver, Queries, QueueManager
from pgqueuer.models import Job

ENTRYPOINT = "noop"


async def consume(db_url: str, batch_size: int) -> None:
    """Serve the ``noop`` entrypoint until a stop signal."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        manager = QueueManager(Queries(PsycopgDriver(conn)))

        @manager.entrypoint(ENTRYPOINT)
        async def noop(job: Job) -> None:
            return None

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, manager.shutdown.set)
        await manager.run(batch_size=batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db_url")
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(consume(args.db_url, args.batch_size))


if __name__ == "__main__":
    main()
