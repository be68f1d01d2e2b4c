"""The tasks of the queue and their schedules, registered with a procrastinate ``App``.

Every task is named ``pdo.<what>`` and runs in the queue ``pdo`` (``pdo_graph.db.queue``). Periodic
tasks carry a queueing lock (at most one waits) and a lock (at most one runs) of their own name, and
procrastinate defers each tick once whatever the number of workers. The work itself is in
:mod:`pdo_graph.jobs.passes`; a task reads the engine and settings of its worker from the job's
context (``Runtime``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from procrastinate import App, PsycopgConnector, RetryStrategy
from procrastinate.job_context import JobContext
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph import clock
from pdo_graph.config import Settings
from pdo_graph.db import queue as names
from pdo_graph.domain import outbox
from pdo_graph.jobs import passes

log = logging.getLogger(__name__)

HOUSEKEEPING = "pdo.housekeeping"
ANALYTICS = "pdo.analytics_refresh"
CATALOG_SYNC = "pdo.catalog_sync"
NOTICES = "pdo.daily_notices"
DELIVERY = "pdo.notification_delivery"
FAIR = "pdo.draws_and_offers"
FAIR_SECONDS = 10  # the draw at a fair window's end, waitlist offers and their lapses
NOTICES_SECONDS = 3600  # hourly: each notice is written once (its dedupe key), so a repeat does nothing
DELIVERY_SECONDS = 60
JOBS_KEPT_HOURS = 7 * 24


@dataclass(frozen=True)
class Runtime:
    """What a job of this worker works with."""

    engine: AsyncEngine
    settings: Settings
    direct: AsyncEngine  # past any pooler: a sync run holds a session lock


def runtime(context: JobContext) -> Runtime:
    found = context.additional_context["runtime"]
    assert isinstance(found, Runtime)
    return found


def cron_every(seconds: int) -> str:
    """A cron line firing every ``seconds``: under a minute, on the seconds field (croniter's sixth); else
    every whole number of minutes (at most hourly)."""
    if seconds < 60:
        return f"* * * * * */{max(1, seconds)}"
    if seconds >= 3600:
        return "0 * * * *"
    return f"*/{seconds // 60} * * * *"


def make_app(conninfo: str, settings: Settings, pool_size: int = 4) -> App:
    """A procrastinate app on ``conninfo`` (a libpq URL that reaches PostgreSQL itself, not a pooler in
    transaction mode: workers LISTEN) with pdo-graph's tasks and the schedules of ``settings``."""
    app = App(
        connector=PsycopgConnector(
            conninfo=conninfo,
            min_size=1,
            max_size=pool_size,
            kwargs={"application_name": "pdo-graph-worker"},
        ),
        worker_defaults={"queues": [names.QUEUE]},
    )

    @app.task(
        name=names.CREDIT_PERIOD,
        queue=names.QUEUE,
        pass_context=True,
        retry=RetryStrategy(max_attempts=10, exponential_wait=2),
    )
    async def credit_period(context: JobContext, period_id: int, batch: int) -> dict[str, int]:
        rt = runtime(context)

        def report(done: Any) -> None:
            log.info(
                "period %s credits: %s funded, %s waiting",
                period_id,
                done.funded,
                done.waiting,
                extra={"job": "credits"},
            )

        done = await passes.credit_period(rt.engine, period_id, batch, report)
        return {"funded": done.funded, "waiting": done.waiting}

    def periodic(name: str, every_seconds: int) -> Any:
        def register(fn: Any) -> Any:
            task = app.task(name=name, queue=names.QUEUE, pass_context=True, lock=name, queueing_lock=name)(fn)
            return app.periodic(cron=cron_every(every_seconds), periodic_id=name)(task)

        return register

    @periodic(HOUSEKEEPING, settings.housekeeping_seconds)
    async def housekeeping(context: JobContext, timestamp: int) -> dict[str, int]:
        rt = runtime(context)
        result = await passes.run_housekeeping(rt.engine, rt.settings, clock.today(rt.settings.time_zone))
        result |= await passes.close_due_periods(rt.engine, rt.settings)
        # the queue's own record: finished jobs are kept a week (what ran when, for an operator's look)
        await context.app.job_manager.delete_old_jobs(nb_hours=JOBS_KEPT_HOURS, queue=names.QUEUE)
        if any(result.values()):
            log.info("housekeeping %s", result)
        return result

    @periodic(NOTICES, NOTICES_SECONDS)
    async def daily_notices(context: JobContext, timestamp: int) -> dict[str, int]:
        rt = runtime(context)
        result = await passes.send_daily_notices(rt.engine, rt.settings, clock.today(rt.settings.time_zone))
        if any(result.values()):
            log.info("notices %s", result)
        return result

    adapter = outbox.LoggingAdapter()

    @periodic(DELIVERY, DELIVERY_SECONDS)
    async def notification_delivery(context: JobContext, timestamp: int) -> dict[str, int]:
        done = await passes.deliver_notifications(runtime(context).engine, adapter)
        if done.delivered or done.failed:
            log.info("notifications delivered %s, failed %s", done.delivered, done.failed)
        return {"delivered": done.delivered, "failed": done.failed}

    @periodic(FAIR, FAIR_SECONDS)
    async def draws_and_offers(context: JobContext, timestamp: int) -> dict[str, int]:
        rt = runtime(context)
        result = await passes.run_draws_and_offers(rt.engine, rt.settings)
        if any(result.values()):
            log.info("draws and offers %s", result)
        return result

    if settings.analytics_refresh_minutes > 0:

        @periodic(ANALYTICS, 60)
        async def analytics(context: JobContext, timestamp: int) -> int | None:
            rt = runtime(context)
            done = await passes.refresh_analytics_if_due(rt.engine, rt.settings)
            if done is None:
                return None
            log.info("analytics refreshed: generation %s, %s rows in %.1f s", done.generation, done.rows, done.seconds)
            return done.generation

    if settings.sync_background:

        @periodic(CATALOG_SYNC, round(settings.sync_poll_seconds))
        async def catalog_sync(context: JobContext, timestamp: int) -> int:
            from pdo_graph.integrations.sync.scheduler import sync_due_sources

            rt = runtime(context)
            return len(await sync_due_sources(rt.direct, rt.settings))

    return app
