"""Funding periods: opening credits every active certificate once; a limit queues the rest.

Lock order: the municipality row first (serialises openings, issuance and funding of one
municipality), then period rows, then balances.

Every money movement of a period passes its **gate**: a PostgreSQL advisory lock per period
(class ``GATE_CLASS``, key the period id), taken shared by each movement (an application's reserve,
a release, a charge, a carry into it: ``lock_shared``) and exclusively by a change of the period
itself (the close, a limit update: ``_lock_open_period``), before the period row (``FOR SHARE`` /
``FOR NO KEY UPDATE``). So a close serialises with updates, other closes and every movement: after
it commits nothing reserves, releases or credits money in the period, and the period holds no
available or reserved money.

Why an advisory lock before the row lock: PostgreSQL grants a ``FOR SHARE`` row lock at once to a
newcomer while other transactions share the row, even when a ``FOR NO KEY UPDATE`` waits for them,
so under a steady stream of movements a close could wait for ever. The heavyweight lock manager
queues a shared request behind a waiting exclusive one: the close waits only for the movements
already inside, and those arriving after it wait for the close (and then see the period closed).
``bench/close_gate.py`` counts the movements that slip in while a close waits, with and without
the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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

GATE_CLASS = 7_201_050  # pg advisory lock class of the periods' gates (the key: the period id)
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
    carry_over: bool = False  # unusedFunds: CARRY_OVER (else EXPIRE)


@dataclass(frozen=True, slots=True)
class OpenResult:
    period_id: int
    credited: int
    certificates_credited: int
    carried_in: int = 0
    credit_job: int | None = None  # the queued job crediting the rest (None: nothing left, or one waits)


@dataclass(frozen=True, slots=True)
class CloseResult:
    """What a close did: kopecks expired and carried out, contracts completed, applications expired."""

    expired: int
    carried: int
    completed: int
    certificates: int


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
                        " open_for_applications, cap_at_normative, carry_over)"
                        " VALUES (:m, :s, :e, :p, :l, :o, :cap, :carry) RETURNING id"
                    ),
                    {
                        "m": req.municipality,
                        "s": req.starts_on,
                        "e": req.ends_on,
                        "p": req.proration.value,
                        "l": req.funded_limit,
                        "o": req.open_for_applications,
                        "cap": req.cap_at_normative,
                        "carry": req.carry_over,
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
    carried_in = await credit_carry_overs(conn, req.municipality, period_id, actor.label)
    job = None
    if req.credit_batch is not None and not (await credit_progress(conn, period_id)).done:
        job = await enqueue_credits(conn, period_id, req.credit_batch)
    return OpenResult(period_id, credited, count, carried_in, job)


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
    """The municipality, the period's gate (exclusive), then its row for a change of the period;
    refused unless it is open."""
    await lock_municipality(conn, municipality)
    await conn.execute(text("SELECT pg_advisory_xact_lock(:cls, CAST(:p AS int))"), {"cls": GATE_CLASS, "p": period_id})
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
    """Pass the periods' gates (shared) and hold their rows ``FOR SHARE`` (in id order) before
    moving money in them; their states.

    The first lock of every money movement: it waits for a close or an update of the period (and
    for one that is already waiting), and stops them until the movement commits.
    """
    ids = sorted(set(period_ids))
    if not ids:
        return {}
    # one round trip: the gates (in id order) are passed in an init plan that runs before the scan
    # whose rows are then locked, so the order stays gate first, row second
    rows = await conn.execute(
        text(
            "SELECT id, status, open_for_applications FROM funding_periods"
            " WHERE id = ANY(:ids)"
            " AND (SELECT count(pg_advisory_xact_lock_shared(:cls, p)) FROM unnest(CAST(:ids AS int[])) p) >= 0"
            " ORDER BY id FOR SHARE"
        ),
        {"cls": GATE_CLASS, "ids": ids},
    )
    return {int(r.id): PeriodGate(r.status == "CLOSED", bool(r.open_for_applications)) for r in rows}


async def close_period(conn: AsyncConnection, actor: Actor, period_id: int) -> CloseResult:
    """Close a period in one transaction.

    Under the period's gate and row, both exclusive (so concurrent closes, updates and money
    movements serialise with it; a second close is refused with INVALID_TRANSITION): the period is
    marked closed, its live contracts end (ACTIVE -> COMPLETED, REQUESTED -> EXPIRED,
    AWAITING_CONSENT -> EXPIRED; reason: the period ended), their reserves are released; then what
    is left available is carried into the municipality's next period (``unusedFunds: CARRY_OVER``,
    for certificates still valid after the period) or expires. Afterwards the period holds no
    available or reserved money.
    """
    from pdo_graph.domain import enrollment  # enrollment imports this module

    municipality = await _period_municipality(conn, actor, period_id)
    await _lock_open_period(conn, municipality, period_id)
    period = (
        await conn.execute(text("SELECT ends_on, carry_over FROM funding_periods WHERE id = :p"), {"p": period_id})
    ).one()
    expired_before = await _expired(conn, period_id)
    # Contracts end first where leftovers carry over (their released reserves join the leftovers);
    # otherwise the period is marked closed first, and each released reserve expires as it returns
    # (ledger.release), an entry the family sees next to its release.
    completed = 0
    if period.carry_over:
        completed = await enrollment.end_period_contracts(conn, period_id, actor.label)
    await conn.execute(
        text(
            "UPDATE funding_periods SET status = 'CLOSED', open_for_applications = false, closed_at = now()"
            " WHERE id = :p"
        ),
        {"p": period_id},
    )
    if not period.carry_over:
        completed = await enrollment.end_period_contracts(conn, period_id, actor.label)
    leftovers = (
        await conn.execute(
            text(
                "SELECT b.certificate_id, b.available, c.status, c.valid_until FROM balances b"
                " JOIN certificates c ON c.id = b.certificate_id"
                " WHERE b.period_id = :p AND b.available > 0 ORDER BY b.certificate_id FOR NO KEY UPDATE OF b"
            ),
            {"p": period_id},
        )
    ).all()
    carried = 0
    for r in leftovers:
        amount = int(r.available)
        if period.carry_over and r.status in ("ACTIVE", "FROZEN") and r.valid_until > period.ends_on:
            await _carry_out(conn, municipality, period_id, int(r.certificate_id), amount, actor.label)
            carried += amount
        else:
            await ledger.post(
                conn,
                ledger.Entry(
                    kind=ledger.Kind.EXPIRE,
                    certificate_id=int(r.certificate_id),
                    period_id=period_id,
                    amount=amount,
                    description=f"Неиспользованный остаток сгорел при закрытии периода: {format_amount(amount)} ₽",
                    actor=actor.label,
                ),
            )
    if carried:
        await credit_carry_overs(conn, municipality, None, actor.label, after=period.ends_on)
    expired = await _expired(conn, period_id) - expired_before
    return CloseResult(expired, carried, completed, len(leftovers))


async def _carry_out(
    conn: AsyncConnection, municipality: str, period_id: int, certificate_id: int, amount: int, actor: str
) -> None:
    """Move a certificate's leftover out of a closing period; it waits in ``carry_overs``."""
    await ledger.post(
        conn,
        ledger.Entry(
            kind=ledger.Kind.CARRY,
            certificate_id=certificate_id,
            period_id=period_id,
            amount=amount,
            description=f"Остаток перенесён в следующий период: {format_amount(amount)} ₽",
            actor=actor,
        ),
    )
    await conn.execute(
        text("INSERT INTO carry_overs (certificate_id, from_period_id, municipality, amount) VALUES (:c, :p, :m, :a)"),
        {"c": certificate_id, "p": period_id, "m": municipality, "a": amount},
    )


async def credit_carry_overs(
    conn: AsyncConnection, municipality: str, period_id: int | None, actor: str, after: date | None = None
) -> int:
    """Credit the municipality's waiting carry-overs into its next period, once each; kopecks credited.

    ``period_id``: the period just opened (each carry-over from a period that ended before it
    starts goes in); None: at a close (``after`` = its end), the next open period that starts
    after it, when there is one. The caller holds the municipality row.
    """
    if period_id is None:
        found = (
            await conn.execute(
                text(
                    "SELECT id FROM funding_periods WHERE municipality = :m AND status = 'OPEN' AND starts_on > :a"
                    " ORDER BY starts_on LIMIT 1"
                ),
                {"m": municipality, "a": after},
            )
        ).scalar()
        if found is None:
            return 0
        period_id = int(found)
    pending = (
        await conn.execute(
            text(
                "SELECT co.id, co.certificate_id, co.amount, fp.starts_on, fp.ends_on FROM carry_overs co"
                " JOIN funding_periods fp ON fp.id = co.from_period_id"
                " JOIN funding_periods np ON np.id = :p AND np.status = 'OPEN'"
                " WHERE co.municipality = :m AND co.to_period_id IS NULL AND fp.ends_on < np.starts_on"
                " ORDER BY co.certificate_id, co.id FOR UPDATE OF co"
            ),
            {"m": municipality, "p": period_id},
        )
    ).all()
    if not pending:
        return 0
    await lock_shared(conn, [period_id])
    await conn.execute(
        text(
            "INSERT INTO balances (certificate_id, period_id)"
            " SELECT unnest(CAST(:ids AS bigint[])), :p ON CONFLICT DO NOTHING"
        ),
        {"ids": sorted({int(r.certificate_id) for r in pending}), "p": period_id},
    )
    for r in pending:
        span = f"{r.starts_on:%d.%m.%Y}–{r.ends_on:%d.%m.%Y}"
        await ledger.post(
            conn,
            ledger.Entry(
                kind=ledger.Kind.CARRY,
                certificate_id=int(r.certificate_id),
                period_id=period_id,
                amount=int(r.amount),
                description=f"Перенесённый остаток периода {span}: {format_amount(int(r.amount))} ₽",
                actor=actor,
                carry_in=True,
            ),
        )
    await conn.execute(
        text("UPDATE carry_overs SET to_period_id = :p, credited_at = now() WHERE id = ANY(:ids)"),
        {"p": period_id, "ids": [int(r.id) for r in pending]},
    )
    return sum(int(r.amount) for r in pending)


async def due_periods(conn: AsyncConnection, today_of: Callable[[str | None], date]) -> list[int]:
    """Open periods whose ``endsOn`` has passed in their municipality's time zone (oldest first).

    ``today_of(zone)``: the current day in a municipality's zone (None: the region's setting).
    """
    rows = await conn.execute(
        text(
            "SELECT p.id, p.ends_on, m.time_zone FROM funding_periods p JOIN municipalities m ON m.code = p.municipality"
            " WHERE p.status = 'OPEN' ORDER BY p.ends_on, p.id"
        )
    )
    return [int(r.id) for r in rows if r.ends_on < today_of(r.time_zone)]


async def close_if_open(conn: AsyncConnection, actor: Actor, period_id: int) -> CloseResult | None:
    """The job's close: None when the period is closed already (by another process or the operator)."""
    try:
        return await close_period(conn, actor, period_id)
    except DomainError as exc:
        if any(p.code is ErrorCode.INVALID_TRANSITION for p in exc.problems):
            return None
        raise


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
