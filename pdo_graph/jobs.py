"""Background jobs of the server: expiring stale applications and certificates, completing ended groups,
refreshing the analysts' aggregates."""

from __future__ import annotations

import asyncio
import logging
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.config import Settings
from pdo_graph.db.session import transaction
from pdo_graph.domain import certificates, enrollment

log = logging.getLogger(__name__)

JOB_INTERVAL_SECONDS = 300


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


async def _loop(engine: AsyncEngine, settings: Settings) -> None:
    while True:
        try:
            result = await run_housekeeping(engine, settings, date.today())
            if any(result.values()):
                log.info("housekeeping %s", result)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("housekeeping failed")
        await asyncio.sleep(JOB_INTERVAL_SECONDS)


async def _analytics_loop(engine: AsyncEngine, settings: Settings) -> None:
    """Recompute the analysts' aggregates every ``PDO_ANALYTICS_REFRESH_MINUTES`` (at start too, unless
    the last refresh is younger than that); one refresh runs at a time across processes (the others
    skip)."""
    from pdo_graph.domain.analytics.refresh import refresh, seconds_since_refresh

    interval = settings.analytics_refresh_minutes * 60
    try:
        age = await seconds_since_refresh(engine)
    except Exception:
        log.exception("analytics state unreadable")
        age = None
    if age is not None and age < interval:
        await asyncio.sleep(interval - age)
    while True:
        try:
            done = await refresh(engine, settings.analytics_min_cell)
            if done is not None:
                log.info(
                    "analytics refreshed: generation %s, %s rows in %.1f s", done.generation, done.rows, done.seconds
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("analytics refresh failed")
        await asyncio.sleep(interval)


def start_background_jobs(engine: AsyncEngine, settings: Settings) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(_loop(engine, settings), name="pdo-housekeeping")]
    if settings.analytics_refresh_minutes > 0:
        tasks.append(asyncio.create_task(_analytics_loop(engine, settings), name="pdo-analytics-refresh"))
    return tasks
