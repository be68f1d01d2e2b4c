"""The passes of background work, each safe to run from many processes at once and to repeat."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph import clock
from pdo_graph.config import Settings
from pdo_graph.db.session import transaction
from pdo_graph.domain import certificates, enrollment, funding, notifications, outbox, periods
from pdo_graph.domain.access import Actor, Role
from pdo_graph.domain.analytics import refresh
from pdo_graph.domain.enrollment import draw, waitlist

log = logging.getLogger(__name__)

CREDITS = "system:credits"  # the actor of credits made by the queue
APPLICATION_WARNING = timedelta(days=1)  # providers hear of an unanswered application a day before it expires
FAIR_INTERVAL_SECONDS = 10  # draws at the end of fair windows, waitlist offers and their lapses


async def run_housekeeping(engine: AsyncEngine, settings: Settings, today: date) -> dict[str, int]:
    """One pass of every periodic rule; safe to run from many processes at once."""
    expired_certificates = await transaction(engine, lambda c: certificates.expire_certificates(c, today))
    expired_applications = await enrollment.expire_stale_applications(engine, settings.enrollment_expiry_days)
    completed = await enrollment.complete_finished_groups(engine, today)
    requeued = await requeue_credits(engine, settings)
    return {
        "certificates_expired": expired_certificates,
        "applications_expired": expired_applications,
        "enrollments_completed": completed,
        "credit_jobs_queued": requeued,
    }


async def run_draws_and_offers(engine: AsyncEngine, settings: Settings) -> dict[str, int]:
    """One pass: draw the seats of every group whose fair window has ended, lapse unanswered waitlist
    offers, offer free seats to the queues. Safe to run from many processes at once."""
    drawn = await draw.run_due_draws(engine)
    offers = await waitlist.run_offers(engine, settings.waitlist_offer_hours)
    return {
        "groups_drawn": len(drawn),
        "seats_drawn": sum(d.winners for d in drawn),
        "offers_lapsed": offers.lapsed,
        "offers_made": offers.offered,
    }


async def requeue_credits(engine: AsyncEngine, settings: Settings) -> int:
    """A credit job for every open period whose allowed queue waits without one (a period opened where
    no queue runs, or a job given up after its retries): the credits are never left half done."""

    async def work(conn: AsyncConnection) -> int:
        queued = 0
        for period_id in await funding.periods_waiting_for_credits(conn):
            queued += await periods.enqueue_credits(conn, period_id, settings.credit_batch) is not None
        return queued

    return await transaction(engine, work)


async def credit_period(
    engine: AsyncEngine,
    period_id: int,
    batch: int,
    progress: Callable[[funding.CreditProgress], None] | None = None,
) -> funding.CreditProgress:
    """Credit a period's waiting certificates, ``batch`` per transaction, until none waits (or the period
    closes). Killed half-way, it loses at most the batch in flight (rolled back); run again, it goes on."""
    while True:
        done = await transaction(engine, lambda c: funding.credit_batch(c, period_id, batch, CREDITS))
        if progress is not None:
            progress(done)
        if done.done:
            return done


PERIOD_JOB = Actor(Role.OPERATOR, "system:periods")  # the job acts as the operator of each period's municipality


async def close_due_periods(engine: AsyncEngine, settings: Settings, today: date | None = None) -> dict[str, int]:
    """Close every open period whose ``endsOn`` has passed in its municipality's time zone
    (``municipalities.time_zone``, else ``PDO_TIME_ZONE``); ``today`` (tests, the simulated year)
    overrides the clock for every municipality.

    One transaction per period; safe from many processes at once: the close takes the period's gate
    and row exclusively and re-reads its status, so a period closed meanwhile (by another process
    or by the operator) is skipped, and each period closes exactly once.
    """

    def today_of(zone: str | None) -> date:
        return today if today is not None else clock.today(zone or settings.time_zone)

    due = await transaction(engine, lambda c: periods.due_periods(c, today_of))
    closed = expired = carried = 0
    for period_id in due:

        async def one(conn: AsyncConnection, period_id: int = period_id) -> periods.CloseResult | None:
            municipality = (
                await conn.execute(text("SELECT municipality FROM funding_periods WHERE id = :p"), {"p": period_id})
            ).scalar_one()
            actor = Actor(Role.OPERATOR, PERIOD_JOB.subject, str(municipality))
            return await periods.close_if_open(conn, actor, period_id)

        result = await transaction(engine, one)
        if result is not None:
            closed += 1
            expired += result.expired
            carried += result.carried
    return {"periods_closed": closed, "expired": expired, "carried": carried}


async def send_daily_notices(engine: AsyncEngine, settings: Settings, today: date) -> dict[str, int]:
    """The daily notices: certificates expiring within 30 days, money of a period closing within 30 days
    that would expire, applications expiring within a day (to providers). Each is written once (its
    dedupe key), so the pass may run as often as wanted, from many processes."""
    return {
        "certificates_expiring": await transaction(engine, lambda c: notifications.certificates_expiring(c, today)),
        "funds_expiring": await transaction(engine, lambda c: notifications.funds_expiring(c, today)),
        "applications_expiring": await transaction(
            engine,
            lambda c: notifications.applications_expiring(c, settings.enrollment_expiry_days, APPLICATION_WARNING),
        ),
    }


async def deliver_notifications(engine: AsyncEngine, adapter: outbox.Adapter) -> outbox.Delivered:
    """Hand the outbox's due messages to ``adapter`` (the server's: outbox.LoggingAdapter)."""
    return await outbox.deliver_pending(engine, adapter)


async def refresh_analytics(
    engine: AsyncEngine, settings: Settings, progress: Callable[[str], None] | None = None
) -> refresh.Refreshed | None:
    """Recompute the analysts' aggregates; None when another refresh is running (one at a time across
    processes: the others skip)."""
    return await refresh.refresh(engine, settings.analytics_min_cell, progress)


async def refresh_analytics_if_due(engine: AsyncEngine, settings: Settings) -> refresh.Refreshed | None:
    """Refresh when the aggregates are older than ``PDO_ANALYTICS_REFRESH_MINUTES`` (or missing)."""
    if settings.analytics_refresh_minutes <= 0:
        return None
    age = await refresh.seconds_since_refresh(engine)
    if age is not None and age < settings.analytics_refresh_minutes * 60:
        return None
    return await refresh_analytics(engine, settings)
