"""Running a worker of the queue: ``pdo-graph worker`` (its own process) or inside the server.

A worker heartbeats every ``PDO_WORKER_HEARTBEAT_SECONDS``; one silent for three heartbeats is dead,
and every live worker sends the jobs a dead one held round again (``rescue_stalled``). Its jobs'
database work goes through the application's engine (the pooler, when there is one); the queue's
own connection reaches PostgreSQL directly (``PDO_DATABASE_DIRECT_URL``): a worker LISTENs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import UTC, datetime

from procrastinate import App

from pdo_graph.config import Settings
from pdo_graph.db.engine import Database, driver_url
from pdo_graph.db.queue import QUEUE
from pdo_graph.jobs.queue import Runtime, make_app

log = logging.getLogger(__name__)

STALLED_HEARTBEATS = 3  # a worker silent this many heartbeats is dead
RESTART_SECONDS = 5.0


def queue_conninfo(database: Database) -> str:
    """The libpq URL of the queue's connections: past any pooler."""
    return driver_url(database.session_url)


async def rescue_stalled(app: App, seconds_since_heartbeat: float) -> int:
    """Send the jobs of dead workers round again; how many. Racing workers each retry a job at most
    once between them (a job already sent round is no longer ``doing``)."""
    rescued = 0
    for job in await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=seconds_since_heartbeat):
        assert job.id is not None
        try:
            await app.job_manager.retry_job_by_id_async(job.id, retry_at=datetime.now(UTC))
        except Exception:  # another worker got there first
            continue
        log.warning("job %s (%s) of a dead worker sent round again", job.id, job.task_name)
        rescued += 1
    await app.job_manager.prune_stalled_workers(seconds_since_heartbeat)
    return rescued


async def run_worker(
    database: Database, settings: Settings, *, name: str | None = None, install_signal_handlers: bool = True
) -> None:
    """Run a worker until cancelled (or, with ``install_signal_handlers``, until SIGINT/SIGTERM: the job
    in flight finishes first)."""
    heartbeat = settings.worker_heartbeat_seconds
    stalled_after = heartbeat * STALLED_HEARTBEATS
    app = make_app(queue_conninfo(database), settings, pool_size=settings.worker_concurrency + 2)
    name = name or f"{socket.gethostname()}:{os.getpid()}"

    async def rescuer() -> None:
        while True:
            await asyncio.sleep(heartbeat)
            try:
                await rescue_stalled(app, stalled_after)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("rescuing stalled jobs failed")

    async with app.open_async():
        rescue = asyncio.create_task(rescuer(), name="pdo-rescue-stalled")
        try:
            await app.run_worker_async(
                name=name,
                concurrency=settings.worker_concurrency,
                additional_context={"runtime": Runtime(database.engine, settings, database.direct)},
                install_signal_handlers=install_signal_handlers,
                update_heartbeat_interval=heartbeat,
                stalled_worker_timeout=stalled_after,
                fetch_job_polling_interval=max(1.0, heartbeat),
            )
        finally:
            rescue.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rescue


async def run_worker_in_server(database: Database, settings: Settings) -> None:
    """The server's own worker (``serve --with-worker``): restarted after a failure (a lost database),
    never taking the server down with it."""
    while True:
        try:
            await run_worker(database, settings, install_signal_handlers=False)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the queue worker stopped; starting again in %s s", RESTART_SECONDS)
            await asyncio.sleep(RESTART_SECONDS)
