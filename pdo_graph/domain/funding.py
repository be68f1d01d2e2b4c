"""Funding a period: which certificates are credited, in what order and how much.

A certificate is queued once per period (first come, first served) and funded while the period's
limit allows; the nominal is its child's age band's, prorated by the months left when the period's
rule says so. Lock order: the municipality row, the period row, then balances (through the ledger).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain import ledger, notifications
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.domain.money import format_amount, months_between, prorate
from pdo_graph.domain.people import age_on


class Proration(StrEnum):
    FULL = "FULL"
    PRORATED_MONTHLY = "PRORATED_MONTHLY"


@dataclass(frozen=True, slots=True)
class Nominal:
    min_age: int
    max_age: int
    kopecks: int


async def lock_municipality(conn: AsyncConnection, code: str) -> None:
    row = await conn.execute(text("SELECT 1 FROM municipalities WHERE code = :c FOR NO KEY UPDATE"), {"c": code})
    if row.first() is None:
        raise DomainError.of(ErrorCode.INVALID, "municipality_unknown", ["municipality"], code=code)


async def _nominals(conn: AsyncConnection, period_id: int) -> list[Nominal]:
    rows = await conn.execute(
        text("SELECT min_age, max_age, kopecks FROM period_nominals WHERE period_id = :p ORDER BY min_age"),
        {"p": period_id},
    )
    return [Nominal(r.min_age, r.max_age, r.kopecks) for r in rows]


def funding_amount(
    nominals: list[Nominal],
    proration: Proration,
    starts_on: date,
    ends_on: date,
    birth_date: date,
    issued_on: date,
) -> int:
    """The nominal for the child's age when funding starts, prorated by months left if the rule says so."""
    start = max(starts_on, issued_on)
    age = age_on(birth_date, start)
    nominal = next((n.kopecks for n in nominals if n.min_age <= age <= n.max_age), 0)
    if proration is Proration.PRORATED_MONTHLY and issued_on > starts_on:
        total = months_between(starts_on, ends_on)
        left = max(0, months_between(issued_on, ends_on))
        return prorate(nominal, left, total)
    return nominal


async def fund_period(
    conn: AsyncConnection,
    period_id: int,
    actor: str,
    certificate_id: int | None = None,
    batch: int | None = None,
) -> tuple[int, int]:
    """Queue every eligible certificate not yet in the period, then fund the queue up to the limit
    (at most ``batch`` certificates: the rest are credited later by :func:`credit_batch`).

    Idempotent: a certificate gets at most one funding row per period (primary key), and only
    rows moving from QUEUED to FUNDED are credited. Returns (kopecks credited, certificates).
    """
    period = (
        await conn.execute(
            text(
                "SELECT id, municipality, starts_on, ends_on, proration, status FROM funding_periods"
                " WHERE id = :p FOR NO KEY UPDATE"
            ),
            {"p": period_id},
        )
    ).one()
    if period.status != "OPEN":
        return 0, 0
    nominals = await _nominals(conn, period_id)
    candidates = await conn.execute(
        text(
            "SELECT c.id, c.issued_on, ch.birth_date FROM certificates c JOIN children ch ON ch.id = c.child_id"
            " WHERE c.municipality = :m AND c.status = 'ACTIVE' AND c.valid_until >= :s"
            " AND (CAST(:only AS bigint) IS NULL OR c.id = :only)"
            " AND NOT EXISTS (SELECT 1 FROM period_fundings f WHERE f.period_id = :p AND f.certificate_id = c.id)"
            " ORDER BY c.issued_at, c.id"
        ),
        {"m": period.municipality, "s": period.starts_on, "p": period_id, "only": certificate_id},
    )
    rows = [
        (
            r.id,
            funding_amount(
                nominals,
                Proration(period.proration),
                period.starts_on,
                period.ends_on,
                r.birth_date,
                r.issued_on,
            ),
        )
        for r in candidates
    ]
    if rows:
        await conn.execute(
            text(
                "INSERT INTO period_fundings (period_id, certificate_id, status, amount)"
                " SELECT :p, t.cid, 'QUEUED', t.amount FROM unnest(CAST(:ids AS bigint[]), CAST(:amounts AS bigint[]))"
                " WITH ORDINALITY AS t(cid, amount, n) ORDER BY t.n ON CONFLICT DO NOTHING"
            ),
            {"p": period_id, "ids": [r[0] for r in rows], "amounts": [r[1] for r in rows]},
        )
    return await promote_queue(conn, period_id, actor, batch)


async def promote_queue(conn: AsyncConnection, period_id: int, actor: str, batch: int | None = None) -> tuple[int, int]:
    """Fund queued certificates in first-come order while the limit allows (at most ``batch`` of
    them); credit them."""
    funded = await conn.execute(
        text(
            "WITH p AS (SELECT funded_limit FROM funding_periods WHERE id = :p),"
            " used AS (SELECT count(*) AS n FROM period_fundings WHERE period_id = :p AND status = 'FUNDED'),"
            " next AS (SELECT certificate_id FROM period_fundings WHERE period_id = :p AND status = 'QUEUED'"
            "          ORDER BY queue_no"
            "          LIMIT (SELECT least(CASE WHEN p.funded_limit IS NULL THEN NULL"
            "                                   ELSE greatest(p.funded_limit - used.n, 0) END,"
            "                              CAST(:batch AS bigint)) FROM p, used))"
            " UPDATE period_fundings f SET status = 'FUNDED', funded_at = now()"
            " FROM next WHERE f.period_id = :p AND f.certificate_id = next.certificate_id"
            " RETURNING f.certificate_id, f.amount, f.created_at < now() AS waited"
        ),
        {"p": period_id, "batch": batch},
    )
    rows = funded.all()
    credits = sorted((int(r.certificate_id), int(r.amount)) for r in rows)
    # queued in an earlier transaction: the family waited, and hears of its place
    waited = {int(r.certificate_id) for r in rows if r.waited}
    if not credits:
        return 0, 0
    await conn.execute(
        text(
            "INSERT INTO balances (certificate_id, period_id)"
            " SELECT unnest(CAST(:ids AS bigint[])), :p ON CONFLICT DO NOTHING"
        ),
        {"ids": [c for c, _ in credits], "p": period_id},
    )
    for cid, amount in credits:
        if amount > 0:
            await ledger.post(
                conn,
                ledger.Entry(
                    kind=ledger.Kind.CREDIT,
                    certificate_id=cid,
                    period_id=period_id,
                    amount=amount,
                    description=f"Зачисление номинала сертификата за период: {format_amount(amount)} ₽",
                    actor=actor,
                ),
            )
    await notifications.funded_from_queue(conn, period_id, [c for c in credits if c[0] in waited])
    return sum(a for _, a in credits), len(credits)


@dataclass(frozen=True, slots=True)
class CreditProgress:
    """How far a period's credits have got: ``funded`` certificates credited, ``waiting`` queued ones
    the limit allows (credited by the next batches), ``beyond_limit`` queued ones the limit holds back."""

    funded: int
    waiting: int
    beyond_limit: int

    @property
    def done(self) -> bool:
        return self.waiting == 0


# The one rule for a period's credit progress, for periods ``:keys``: funded, the queued ones the
# limit allows (waiting for a credit batch; none once closed), and all queued.
CREDIT_PROGRESS_SQL = (
    "SELECT p.id, f.funded, f.queued,"
    " CASE WHEN p.status <> 'OPEN' THEN 0 WHEN p.funded_limit IS NULL THEN f.queued"
    "      ELSE greatest(0, least(f.queued, p.funded_limit - f.funded)) END AS waiting"
    " FROM funding_periods p CROSS JOIN LATERAL ("
    "   SELECT count(*) FILTER (WHERE status = 'FUNDED') AS funded, count(*) FILTER (WHERE status = 'QUEUED') AS queued"
    "   FROM period_fundings WHERE period_id = p.id) f"
    " WHERE p.id = ANY(:keys)"
)


async def credit_progress(conn: AsyncConnection, period_id: int) -> CreditProgress:
    row = (await conn.execute(text(CREDIT_PROGRESS_SQL), {"keys": [period_id]})).one()
    return CreditProgress(int(row.funded), int(row.waiting), int(row.queued) - int(row.waiting))


async def credit_batch(conn: AsyncConnection, period_id: int, batch: int, actor: str) -> CreditProgress:
    """Credit the next ``batch`` queued certificates of a period the limit allows, in one short
    transaction (the caller's): the municipality, then the period row, then the balances, as every
    funding does. A batch cut off half-way rolls back whole; the next one starts from the queue, so a
    certificate is never credited twice. Nothing happens once the period is closed."""
    municipality = (
        await conn.execute(text("SELECT municipality FROM funding_periods WHERE id = :p"), {"p": period_id})
    ).scalar()
    if municipality is None:
        return CreditProgress(0, 0, 0)
    await lock_municipality(conn, str(municipality))
    status = (
        await conn.execute(text("SELECT status FROM funding_periods WHERE id = :p FOR NO KEY UPDATE"), {"p": period_id})
    ).scalar_one()
    if status == "OPEN":
        await promote_queue(conn, period_id, actor, batch)
    return await credit_progress(conn, period_id)


async def periods_waiting_for_credits(conn: AsyncConnection) -> list[int]:
    """Open periods with queued certificates their limit allows (what a credit job still has to do)."""
    rows = await conn.execute(
        text(
            "SELECT p.id FROM funding_periods p WHERE p.status = 'OPEN'"
            " AND EXISTS (SELECT 1 FROM period_fundings f WHERE f.period_id = p.id AND f.status = 'QUEUED')"
            " AND (p.funded_limit IS NULL OR p.funded_limit >"
            "      (SELECT count(*) FROM period_fundings f WHERE f.period_id = p.id AND f.status = 'FUNDED'))"
            " ORDER BY p.id"
        )
    )
    return [int(r.id) for r in rows]


async def fund_new_certificate(
    conn: AsyncConnection, certificate_id: int, municipality: str, today: date, actor: str
) -> None:
    """A certificate issued while a period is open is funded at once (or queued)."""
    await lock_municipality(conn, municipality)
    period_ids = await conn.execute(
        text(
            "SELECT id FROM funding_periods WHERE municipality = :m AND status = 'OPEN' AND ends_on >= :t ORDER BY id"
        ),
        {"m": municipality, "t": today},
    )
    for pid in [int(r.id) for r in period_ids]:
        await fund_period(conn, pid, actor, certificate_id=certificate_id)
