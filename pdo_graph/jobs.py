"""Background jobs of the server: expiring stale applications and certificates, completing ended groups
(housekeeping, every few minutes), closing the funding periods whose ``endsOn`` has passed
(``close_due_periods``, with housekeeping), refreshing the analysts' aggregates (every
``PDO_ANALYTICS_REFRESH_MINUTES``), the daily notices (a certificate or a period's money about to expire,
an application about to expire: hourly, each notice once) and the delivery of the notification outbox
(every minute). Each job is one pass that the CLI can run too; the server runs the passes periodically."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph import clock
from pdo_graph.config import Settings
from pdo_graph.db.session import transaction
from pdo_graph.domain import certificates, enrollment, notifications, outbox, periods
from pdo_graph.domain.access import Actor, Role
from pdo_graph.domain.analytics import refresh
from pdo_graph.domain.enrollment import draw, waitlist

log = logging.getLogger(__name__)

JOB_INTERVAL_SECONDS = 300
NOTICES_INTERVAL_SECONDS = 3600
DELIVERY_INTERVAL_SECONDS = 60
APPLICATION_WARNING = timedelta(days=1)  # providers hear of an unanswered application a day before it expires
FAIR_INTERVAL_SECONDS = 10  # draws at the end of fair windows, waitlist offers and their lapses


async def run_housekeeping(engine: AsyncEngine, settings: Settings, today: date) -> dict[str, int]:
    """One pass of every periodic rule; safe to run from many processes at once."""
    expired_certificates = await transaction(engine, lambda c: certificates.expire_certificates(c, today))
    expired_applications = await enrollment.expire_stale_applications(engine, settings.enrollment_expiry_days)
    completed = await enrollment.complete_finished_groups(engine, today)
    return {
        "certificates_expired": expired_certificates,
        "applications_expired": expired_applications,
        "enrollments_completed": completed,
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


async def _housekeeping(engine: AsyncEngine, settings: Settings) -> None:
    result = await run_housekeeping(engine, settings, clock.today(settings.time_zone))
    if any(result.values()):
        log.info("housekeeping %s", result)
    closed = await close_due_periods(engine, settings)
    if closed["periods_closed"]:
        log.info("periods closed %s", closed)


async def _notices(engine: AsyncEngine, settings: Settings) -> None:
    result = await send_daily_notices(engine, settings, clock.today(settings.time_zone))
    if any(result.values()):
        log.info("notices %s", result)


async def _delivery(engine: AsyncEngine, adapter: outbox.Adapter) -> None:
    done = await deliver_notifications(engine, adapter)
    if done.delivered or done.failed:
        log.info("notifications delivered %s, failed %s", done.delivered, done.failed)


async def _draws_and_offers(engine: AsyncEngine, settings: Settings) -> None:
    result = await run_draws_and_offers(engine, settings)
    if any(result.values()):
        log.info("draws and offers %s", result)


async def _analytics(engine: AsyncEngine, settings: Settings) -> None:
    done = await refresh_analytics(engine, settings)
    if done is not None:
        log.info("analytics refreshed: generation %s, %s rows in %.1f s", done.generation, done.rows, done.seconds)


async def _every(name: str, interval: float, work: Callable[[], Awaitable[None]], first_delay: float = 0) -> None:
    """``work`` every ``interval`` seconds (the first time after ``first_delay``); a failed pass is logged."""
    if first_delay > 0:
        await asyncio.sleep(first_delay)
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed", name)
        await asyncio.sleep(interval)


async def _analytics_delay(engine: AsyncEngine, interval: float) -> float:
    """At start, the aggregates are refreshed at once unless the last refresh is younger than the interval."""
    try:
        age = await refresh.seconds_since_refresh(engine)
    except Exception:
        log.exception("analytics state unreadable")
        return 0
    return 0 if age is None else max(0.0, interval - age)


async def _analytics_loop(engine: AsyncEngine, settings: Settings) -> None:
    interval = settings.analytics_refresh_minutes * 60
    await _every(
        "analytics refresh", interval, lambda: _analytics(engine, settings), await _analytics_delay(engine, interval)
    )


def start_background_jobs(engine: AsyncEngine, settings: Settings) -> list[asyncio.Task[None]]:
    adapter = outbox.LoggingAdapter()
    tasks = [
        asyncio.create_task(
            _every("housekeeping", JOB_INTERVAL_SECONDS, lambda: _housekeeping(engine, settings)),
            name="pdo-housekeeping",
        ),
        asyncio.create_task(
            _every("notices", NOTICES_INTERVAL_SECONDS, lambda: _notices(engine, settings)), name="pdo-notices"
        ),
        asyncio.create_task(
            _every("notification delivery", DELIVERY_INTERVAL_SECONDS, lambda: _delivery(engine, adapter)),
            name="pdo-notification-delivery",
        ),
        asyncio.create_task(
            _every("draws and offers", FAIR_INTERVAL_SECONDS, lambda: _draws_and_offers(engine, settings)),
            name="pdo-draws-offers",
        ),
    ]
    if settings.analytics_refresh_minutes > 0:
        tasks.append(asyncio.create_task(_analytics_loop(engine, settings), name="pdo-analytics-refresh"))
    return tasks
