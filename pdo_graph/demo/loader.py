"""Demo data: a region with municipalities, families, issued certificates, open periods, the catalog.

Everything goes through the domain services, so the demo's money is in the ledger like real money.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.config import Settings
from pdo_graph.crypto import personal_data_keys
from pdo_graph.db.session import transaction
from pdo_graph.demo import content
from pdo_graph.demo.programs import COPAY_MONTHS
from pdo_graph.domain import certificates, periods
from pdo_graph.domain.access import Actor
from pdo_graph.domain.money import add_months

log = logging.getLogger(__name__)

SEED = 20261128
FAMILIES = 60
NOMINALS = [periods.Nominal(5, 13, 2_500_000), periods.Nominal(14, 17, 3_500_000)]


def school_year(today: date) -> tuple[date, date]:
    """The demo's funding period: the current school year, from 1 September to 31 August, stretched to
    the end of the README's nine-month group when that runs longer (a contract never outlives its
    period, and the walk-through's group starts this month: its whole run is paid by the period)."""
    start_year = today.year if today.month >= 9 else today.year - 1
    copay_end = add_months(today.replace(day=1), COPAY_MONTHS) - timedelta(days=1)
    return date(start_year, 9, 1), max(date(start_year + 1, 8, 31), copay_end)


async def is_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        count: int = (await conn.execute(text("SELECT count(*) FROM municipalities"))).scalar_one()
        return count == 0


Progress = Callable[[str, int, int], None]  # (stage, done, total), e.g. ("certificates", 12, 95)


def _quiet(stage: str, done: int, total: int) -> None:
    return None


async def load_demo_if_empty(
    engine: AsyncEngine, settings: Settings, today: date, progress: Progress | None = None
) -> dict[str, int] | None:
    if not await is_empty(engine):
        log.debug("database not empty: demo data not loaded")
        return None
    return await load_demo(engine, settings, today, progress)


async def load_demo(
    engine: AsyncEngine, settings: Settings, today: date, progress: Progress | None = None
) -> dict[str, int]:
    progress = progress or _quiet
    rng = random.Random(SEED)
    counts: dict[str, int] = {}

    async def municipalities(conn: AsyncConnection) -> None:
        await conn.execute(
            text("INSERT INTO municipalities (code, name) VALUES (:c, :n) ON CONFLICT (code) DO NOTHING"),
            [{"c": c, "n": n} for c, n in content.MUNICIPALITIES],
        )

    await transaction(engine, municipalities)
    counts["municipalities"] = len(content.MUNICIPALITIES)

    issued = 0
    keys = personal_data_keys(settings)
    families = content.families(rng, FAMILIES, today)
    children = sum(len(family.children) for family in families)
    for family in families:
        guardian = Actor.guardian(family.subject)
        for child in family.children:
            req = certificates.ApplicationRequest(child.full_name, child.birth_date, child.snils, child.municipality)
            operator = Actor.operator(f"operator-{child.municipality}", child.municipality)

            async def apply_and_issue(
                conn: AsyncConnection,
                req: certificates.ApplicationRequest = req,
                operator: Actor = operator,
                guardian: Actor = guardian,
            ) -> None:
                app_id = await certificates.apply(conn, guardian, req, today, keys)
                await certificates.issue(conn, operator, app_id, today - timedelta(days=60), settings.region_code)

            await transaction(engine, apply_and_issue)
            issued += 1
            progress("certificates", issued, children)
    counts["certificates"] = issued

    starts, ends = school_year(today)
    credited = 0
    for n, (code, _name) in enumerate(content.MUNICIPALITIES, start=1):
        progress("funding periods", n, len(content.MUNICIPALITIES))
        operator = Actor.operator(f"operator-{code}", code)
        period_req = periods.PeriodRequest(code, starts, ends, NOMINALS)

        async def open_one(
            conn: AsyncConnection, operator: Actor = operator, period_req: periods.PeriodRequest = period_req
        ) -> periods.OpenResult:
            return await periods.open_period(conn, operator, period_req)

        credited += (await transaction(engine, open_one)).certificates_credited
    counts["certificates_credited"] = credited

    try:
        from pdo_graph.demo.catalog import load_catalog_demo
    except ImportError:  # the catalog area is not installed
        return counts

    async def catalog(conn: AsyncConnection) -> dict[str, int]:
        loaded: dict[str, int] = await load_catalog_demo(conn, today)
        return loaded

    progress("catalog", 0, 1)
    counts.update(await transaction(engine, catalog))
    progress("catalog", 1, 1)
    counts["full_groups"] = await fill_groups(engine, settings, today, progress)
    return counts


async def fill_groups(engine: AsyncEngine, settings: Settings, today: date, progress: Progress | None = None) -> int:
    """Fill the groups the generator marks full with real, accepted applications of demo children.

    A group that cannot be filled from the demo's eligible children is made smaller (capacity =
    children enrolled), so "full" always means seats taken = capacity with the money in the ledger.
    """
    from pdo_graph.demo.catalog import full_group_ids
    from pdo_graph.domain import catalog, enrollment
    from pdo_graph.domain.errors import DomainError

    async with engine.connect() as conn:
        group_ids = await full_group_ids(conn, today)
    filled = 0
    for n, group_id in enumerate(group_ids, start=1):
        (progress or _quiet)("full groups", n, len(group_ids))
        async with engine.connect() as conn:
            group = (
                await conn.execute(
                    text(
                        "SELECT g.capacity, g.seats_taken, g.starts_on, p.min_age, p.max_age, p.provider_id, pr.inn"
                        " FROM groups g JOIN programs p ON p.id = g.program_id JOIN providers pr ON pr.id = p.provider_id"
                        " WHERE g.id = :g AND p.certified AND g.enrollment_open AND NOT g.archived"
                    ),
                    {"g": group_id},
                )
            ).first()
            if group is None:
                continue
            candidates = (
                await conn.execute(
                    text(
                        "SELECT c.id, gu.subject FROM certificates c JOIN children ch ON ch.id = c.child_id"
                        " JOIN guardians gu ON gu.id = ch.guardian_id"
                        " WHERE c.status = 'ACTIVE' AND date_part('year', age(:start, ch.birth_date)) BETWEEN :lo AND :hi"
                        " AND (SELECT count(*) FROM enrollments e WHERE e.certificate_id = c.id) < 2"
                        " ORDER BY c.id LIMIT :n"
                    ),
                    {
                        "start": group.starts_on,
                        "lo": group.min_age,
                        "hi": group.max_age,
                        "n": group.capacity - group.seats_taken,
                    },
                )
            ).all()
        provider = Actor.provider("demo-provider-staff", group.provider_id)
        for cert_id, subject in candidates:
            guardian = Actor.guardian(subject)

            async def enrol(
                conn: AsyncConnection,
                guardian: Actor = guardian,
                cert_id: int = cert_id,
                group_id: int = group_id,
                provider: Actor = provider,
            ) -> None:
                eid = await enrollment.create(conn, guardian, cert_id, group_id, f"demo-{group_id}-{cert_id}", today)
                await enrollment.accept(conn, provider, eid, settings.enrollment_expiry_days)

            try:
                await transaction(engine, enrol)
            except DomainError:
                continue

        async def shrink(conn: AsyncConnection, group_id: int = group_id) -> bool:
            taken = await conn.execute(text("SELECT seats_taken FROM groups WHERE id = :g"), {"g": group_id})
            seats = int(taken.scalar_one())
            if seats == 0:
                return False
            await catalog.update_group(conn, group_id, {"capacity": seats})
            return True

        filled += await transaction(engine, shrink)
    return filled
