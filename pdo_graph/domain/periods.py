"""Funding periods: opening credits every active certificate once; a limit queues the rest.

Lock order: the municipality row first (serialises openings, issuance and funding of one
municipality), then period rows, then balances.

A period row is the gate of every money movement in it. Whatever changes the period itself
(funding, a limit update, the close) holds it ``FOR NO KEY UPDATE``; every movement of its money
(an application's reserve, a release, a charge) first holds it ``FOR SHARE`` (``lock_shared``) and
reads its status under that lock. So a close serialises with updates, other closes and every
movement: after it commits nothing reserves, releases or credits money in the period, and the
period holds no available or reserved money.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.db import queue
from pdo_graph.domain import ledger
from pdo_graph.domain.access import Actor, require_operator_of
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.funding import Nominal as Nominal
from pdo_graph.domain.funding import Proration as Proration
from pdo_graph.domain.funding import credit_progress, fund_period, lock_municipality, promote_queue
from pdo_graph.domain.money import FIRST_YEAR, LAST_YEAR, format_amount, in_service_years

MAX_NOMINAL = 10_000_000  # 100 000 ₽ per certificate and period
PERIOD = ["periodId"]  # field names of this area's problems: the input's names (resolvers add the argument)


@dataclass(frozen=True, slots=True)
class PeriodRequest:
    municipality: str
    starts_on: date
    ends_on: date
    nominals: list[Nominal]
    funded_limit: int | None = None
    proration: Proration = Proration.FULL
    open_for_applications: bool = True
    cap_at_normative: bool = False
    # None: every certificate is credited in this transaction. N: at most N here; the rest by the
    # queue's credit job in batches of N (one short transaction each, progress visible meanwhile).
    credit_batch: int | None = None


@dataclass(frozen=True, slots=True)
class OpenResult:
    period_id: int
    credited: int
    certificates_credited: int
    credit_job: int | None = None  # the queued job crediting the rest (None: nothing left, or one waits)


def _validate(req: PeriodRequest) -> None:
    problems: list[Problem] = []
    for value, name in ((req.starts_on, "startsOn"), (req.ends_on, "endsOn")):
        if not in_service_years(value):
            problems.append(Problem(ErrorCode.INVALID, "date_years", [name], min=FIRST_YEAR, max=LAST_YEAR))
    if req.ends_on < req.starts_on:
        problems.append(Problem(ErrorCode.INVALID, "date_order", ["endsOn"]))
    if not req.nominals:
        problems.append(Problem(ErrorCode.INVALID, "nominals_empty", ["nominals"]))
    bands = sorted(req.nominals, key=lambda n: n.min_age)
    for i, n in enumerate(bands):
        if not (0 <= n.min_age <= n.max_age <= 18) or (i and bands[i - 1].max_age >= n.min_age):
            problems.append(Problem(ErrorCode.INVALID, "nominal_ages", ["nominals"]))
            break
    for n in req.nominals:
        if not 0 <= n.kopecks <= MAX_NOMINAL:
            problems.append(Problem(ErrorCode.INVALID, "nominal_amount", ["nominals"], max=MAX_NOMINAL))
            break
    if req.funded_limit is not None and req.funded_limit < 0:
        problems.append(Problem(ErrorCode.INVALID, "limit_negative", ["fundedCertificateLimit"]))
    if problems:
        raise DomainError(*problems)


async def open_period(conn: AsyncConnection, actor: Actor, req: PeriodRequest) -> OpenResult:
    """Open (or re-open idempotently) a period and credit the municipality's certificates."""
    require_operator_of(actor, req.municipality, ["municipality"])
    _validate(req)
    await lock_municipality(conn, req.municipality)
    same = (
        await conn.execute(
            text("SELECT id FROM funding_periods WHERE municipality = :m AND starts_on = :s AND ends_on = :e"),
            {"m": req.municipality, "s": req.starts_on, "e": req.ends_on},
        )
    ).scalar()
    if same is None:
        overlap = await conn.execute(
            text(
                "SELECT 1 FROM funding_periods WHERE municipality = :m"
                " AND daterange(starts_on, ends_on, '[]') && daterange(:s, :e, '[]')"
            ),
            {"m": req.municipality, "s": req.starts_on, "e": req.ends_on},
        )
        if overlap.first() is not None:
            raise DomainError.of(ErrorCode.INVALID, "period_overlap", ["startsOn"])
        period_id = int(
            (
                await conn.execute(
                    text(
                        "INSERT INTO funding_periods (municipality, starts_on, ends_on, proration, funded_limit,"
                        " open_for_applications, cap_at_normative)"
                        " VALUES (:m, :s, :e, :p, :l, :o, :cap) RETURNING id"
                    ),
                    {
                        "m": req.municipality,
                        "s": req.starts_on,
                        "e": req.ends_on,
                        "p": req.proration.value,
                        "l": req.funded_limit,
                        "o": req.open_for_applications,
                        "cap": req.cap_at_normative,
                    },
                )
            ).scalar_one()
        )
        await conn.execute(
            text("INSERT INTO period_nominals (period_id, min_age, max_age, kopecks) VALUES (:p, :a, :b, :k)"),
            [{"p": period_id, "a": n.min_age, "b": n.max_age, "k": n.kopecks} for n in req.nominals],
        )
    else:
        period_id = int(same)
    credited, count = await fund_period(conn, period_id, actor=actor.label, batch=req.credit_batch)
    job = None
    if req.credit_batch is not None and not (await credit_progress(conn, period_id)).done:
        job = await enqueue_credits(conn, period_id, req.credit_batch)
    return OpenResult(period_id, credited, count, job)


async def enqueue_credits(conn: AsyncConnection, period_id: int, batch: int) -> int | None:
    """The queue's job crediting the period's waiting certificates (in the caller's transaction)."""
    lock, queueing_lock = queue.credit_period_locks(period_id)
    return await queue.enqueue(
        conn, queue.CREDIT_PERIOD, {"period_id": period_id, "batch": batch}, lock=lock, queueing_lock=queueing_lock
    )


async def update_period(
    conn: AsyncConnection,
    actor: Actor,
    period_id: int,
    funded_limit: int | None,
    limit_given: bool,
    open_for_applications: bool | None,
) -> tuple[int, int]:
    """Change the limit (raising it funds the queue in order) or the applications switch.

    Refused with INVALID_TRANSITION once the period is closed (checked under the period lock, so
    an update racing a close either runs before it or is refused)."""
    municipality = await _period_municipality(conn, actor, period_id)
    if limit_given and funded_limit is not None and funded_limit < 0:
        raise DomainError.of(ErrorCode.INVALID, "limit_negative", ["fundedCertificateLimit"])
    await _lock_open_period(conn, municipality, period_id)
    if limit_given:
        await conn.execute(
            text("UPDATE funding_periods SET funded_limit = :l WHERE id = :p"),
            {"l": funded_limit, "p": period_id},
        )
    if open_for_applications is not None:
        await conn.execute(
            text("UPDATE funding_periods SET open_for_applications = :o WHERE id = :p"),
            {"o": open_for_applications, "p": period_id},
        )
    return await promote_queue(conn, period_id, actor=actor.label)


async def _period_municipality(conn: AsyncConnection, actor: Actor, period_id: int) -> str:
    """The period's municipality, for the permission check (a plain read: nothing is locked yet)."""
    municipality = (
        await conn.execute(text("SELECT municipality FROM funding_periods WHERE id = :p"), {"p": period_id})
    ).scalar()
    if municipality is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", PERIOD)
    require_operator_of(actor, municipality, PERIOD)
    return str(municipality)


async def _lock_open_period(conn: AsyncConnection, municipality: str, period_id: int) -> None:
    """The municipality, then the period row for a change of the period; refused unless it is open."""
    await lock_municipality(conn, municipality)
    status = (
        await conn.execute(text("SELECT status FROM funding_periods WHERE id = :p FOR NO KEY UPDATE"), {"p": period_id})
    ).scalar_one()
    if status != "OPEN":
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "period_already_closed", PERIOD)


@dataclass(frozen=True, slots=True)
class PeriodGate:
    """A period's state read under its share lock: it cannot change until the transaction ends."""

    closed: bool
    open_for_applications: bool


async def lock_shared(conn: AsyncConnection, period_ids: Iterable[int]) -> dict[int, PeriodGate]:
    """Hold periods ``FOR SHARE`` (in id order) before moving money in them; their states.

    The first lock of every money movement: it waits for a close, an update or a funding run of
    the period, and stops them until the movement commits.
    """
    ids = sorted(set(period_ids))
    if not ids:
        return {}
    rows = await conn.execute(
        text(
            "SELECT id, status, open_for_applications FROM funding_periods WHERE id = ANY(:ids) ORDER BY id FOR SHARE"
        ),
        {"ids": ids},
    )
    return {int(r.id): PeriodGate(r.status == "CLOSED", bool(r.open_for_applications)) for r in rows}


async def close_period(conn: AsyncConnection, actor: Actor, period_id: int) -> int:
    """Close a period in one transaction; returns the kopecks that expired.

    Under the period's exclusive lock (so concurrent closes, updates and money movements
    serialise with it; a second close is refused with INVALID_TRANSITION): the period is marked
    closed, its live contracts end (ACTIVE -> COMPLETED, REQUESTED -> EXPIRED, reason: the period
    ended), their reserves are released and, the period being closed, expire at once; then
    whatever is left available expires. Afterwards the period holds no available or reserved money.
    """
    from pdo_graph.domain import enrollment  # enrollment imports this module

    municipality = await _period_municipality(conn, actor, period_id)
    await _lock_open_period(conn, municipality, period_id)
    expired_before = await _expired(conn, period_id)
    await conn.execute(
        text(
            "UPDATE funding_periods SET status = 'CLOSED', open_for_applications = false, closed_at = now()"
            " WHERE id = :p"
        ),
        {"p": period_id},
    )
    await enrollment.end_period_contracts(conn, period_id, actor.label)
    leftovers = await conn.execute(
        text(
            "SELECT certificate_id, available FROM balances WHERE period_id = :p AND available > 0"
            " ORDER BY certificate_id FOR NO KEY UPDATE"
        ),
        {"p": period_id},
    )
    for r in leftovers.all():
        await ledger.post(
            conn,
            ledger.Entry(
                kind=ledger.Kind.EXPIRE,
                certificate_id=int(r.certificate_id),
                period_id=period_id,
                amount=int(r.available),
                description=f"Неиспользованный остаток сгорел при закрытии периода: {format_amount(int(r.available))} ₽",
                actor=actor.label,
            ),
        )
    return await _expired(conn, period_id) - expired_before


async def _expired(conn: AsyncConnection, period_id: int) -> int:
    total = await conn.execute(
        text("SELECT coalesce(sum(expired), 0) FROM balances WHERE period_id = :p"), {"p": period_id}
    )
    return int(total.scalar_one())


async def current_period_id(conn: AsyncConnection, municipality: str, today: date) -> int | None:
    """The open period covering today, else the latest open one."""
    pid = await conn.execute(
        text(
            "SELECT p.id FROM funding_periods p WHERE p.municipality = :m AND p.status = 'OPEN'"
            f" ORDER BY {CURRENT_PERIOD_ORDER} LIMIT 1"
        ),
        {"m": municipality, "today": today},
    )
    value = pid.scalar()
    return None if value is None else int(value)


# The one rule for "the current period" of a municipality, as SQL over an alias ``p``:
# open periods only, the one covering today first, else the latest.
CURRENT_PERIOD_ORDER = "(p.starts_on <= :today AND p.ends_on >= :today) DESC, p.starts_on DESC"
