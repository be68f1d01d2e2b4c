"""Monthly provision and settlement: the provider reports each contract's completeness for a month
(all lines or none); certificates are charged and the rest of each month's share released. The
settlement sums what was charged per provider and month."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain import ledger, notifications
from pdo_graph.domain import settlement as statements
from pdo_graph.domain.access import Actor, Role, can_read_provider_books, require_provider, require_role
from pdo_graph.domain.enrollment.lifecycle import RECORD_FROM, RECORD_SELECT, EnrollmentRecord, Status
from pdo_graph.domain.enrollment.terms import certificate_share, month_index, provision_amounts, reportable
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.money import add_months, format_amount, month_start
from pdo_graph.domain.periods import lock_shared

MAX_REPORT_ITEMS = 500
ITEMS = ["items"]


@dataclass(frozen=True, slots=True)
class ProvisionLine:
    enrollment_id: int | None  # None: the client sent an id that is not an enrollment's
    completeness: int


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    charged: int
    released: int
    contracts: int


@dataclass(frozen=True, slots=True)
class _Charge:
    """One line of a report as it will be written."""

    contract: EnrollmentRecord
    completeness: int
    share: int
    charged: int
    released: int


def _check_lines(lines: Sequence[ProvisionLine]) -> list[int]:
    """The lines' enrollment ids, sorted; refusals of the report's shape (before anything is read)."""
    if not lines:
        raise DomainError.of(ErrorCode.INVALID, "provision_empty", ITEMS)
    if len(lines) > MAX_REPORT_ITEMS:
        raise DomainError.of(ErrorCode.LIMIT_EXCEEDED, "provision_too_many", ITEMS, max=MAX_REPORT_ITEMS)
    problems: list[Problem] = []
    seen: set[int] = set()
    for i, line in enumerate(lines):
        path = [*ITEMS, str(i)]
        if not 0 <= line.completeness <= 100:
            problems.append(Problem(ErrorCode.INVALID, "provision_completeness", [*path, "completeness"]))
        if line.enrollment_id is None:
            problems.append(Problem(ErrorCode.NOT_FOUND, "not_found", [*path, "enrollmentId"]))
        elif line.enrollment_id in seen:
            problems.append(Problem(ErrorCode.INVALID, "provision_repeated", [*path, "enrollmentId"]))
        else:
            seen.add(line.enrollment_id)
    if problems:
        raise DomainError(*problems)
    return sorted(seen)


def _plan(
    lines: Sequence[ProvisionLine],
    contracts: dict[int, tuple[EnrollmentRecord, bool]],
    provider_id: int,
    month: date,
    today: date,
) -> list[_Charge]:
    """What each line charges and releases; every refusal of a line, at once."""
    problems: list[Problem] = []
    plan: list[_Charge] = []
    for i, line in enumerate(lines):
        assert line.enrollment_id is not None
        path = [*ITEMS, str(i), "enrollmentId"]
        found = contracts.get(line.enrollment_id)
        if found is None or found[0].provider_id != provider_id:
            problems.append(Problem(ErrorCode.NOT_FOUND, "not_found", path))
            continue
        e, reported = found
        if e.status != Status.ACTIVE:
            problems.append(Problem(ErrorCode.INVALID_TRANSITION, "enrollment_transition", path, status=e.status))
            continue
        index = month_index(e.first_month, e.months, month)
        if index is None:
            last = add_months(e.first_month, e.months - 1)
            first_label, last_label = e.first_month.strftime("%m.%Y"), last.strftime("%m.%Y")
            problems.append(Problem(ErrorCode.INVALID, "provision_outside", path, first=first_label, last=last_label))
            continue
        if month > month_start(today):
            problems.append(Problem(ErrorCode.INVALID, "provision_not_begun", path))
            continue
        if not reportable(month, today):
            problems.append(Problem(ErrorCode.INVALID, "provision_window_closed", path, month=month.strftime("%m.%Y")))
            continue
        if reported:
            problems.append(Problem(ErrorCode.DUPLICATE, "provision_already", path, month=month.strftime("%m.%Y")))
            continue
        share = certificate_share(e.from_certificate, e.months, index)
        charged, released = provision_amounts(share, line.completeness)
        plan.append(_Charge(e, line.completeness, share, charged, released))
    if problems:
        raise DomainError(*problems)
    return plan


async def report_provision(
    conn: AsyncConnection, actor: Actor, month: date, lines: Sequence[ProvisionLine], today: date
) -> ProvisionResult:
    """The provider reports a month's completeness per contract; all lines or none.

    Each line charges round(share × completeness / 100) of that month's certificate share out
    of the reserve and releases the rest of the share. Refused per line: unknown or foreign
    enrollment (NOT_FOUND), not ACTIVE (INVALID_TRANSITION), a month outside the contract or
    not begun yet (INVALID), a month already reported (DUPLICATE).
    """
    provider_id = require_provider(actor)
    month = month_start(month)
    ids = _check_lines(lines)
    periods_of = await conn.execute(
        text("SELECT DISTINCT period_id FROM enrollments WHERE id = ANY(:ids)"), {"ids": ids}
    )
    await lock_shared(conn, [int(r.period_id) for r in periods_of])
    rows = await conn.execute(
        text(
            RECORD_SELECT + ", EXISTS (SELECT 1 FROM provision_reports r WHERE r.enrollment_id = e.id"
            " AND r.month = :month) AS reported" + RECORD_FROM + " WHERE e.id = ANY(:ids)"
            " ORDER BY e.id FOR NO KEY UPDATE OF e"
        ),
        {"ids": ids, "month": month},
    )
    contracts = {int(r.id): (EnrollmentRecord.of(r), bool(r.reported)) for r in rows}
    plan = _plan(lines, contracts, provider_id, month, today)
    await _write(conn, actor, provider_id, month, plan)
    return ProvisionResult(
        charged=sum(p.charged for p in plan), released=sum(p.released for p in plan), contracts=len(plan)
    )


async def _write(conn: AsyncConnection, actor: Actor, provider_id: int, month: date, plan: list[_Charge]) -> None:
    """The reports, the contracts' reserves and charges, then the ledger (in certificate order)."""
    ids = [p.contract.id for p in plan]
    inserted = await conn.execute(
        text(
            "INSERT INTO provision_reports (enrollment_id, month, completeness, share, charged, released,"
            " provider_id, reported_by)"
            " SELECT t.e, :month, t.c, t.s, t.ch, t.r, :pid, :by FROM unnest(CAST(:e AS bigint[]),"
            " CAST(:c AS smallint[]), CAST(:s AS bigint[]), CAST(:ch AS bigint[]), CAST(:r AS bigint[]))"
            " AS t(e, c, s, ch, r) ON CONFLICT DO NOTHING RETURNING enrollment_id"
        ),
        {
            "month": month,
            "pid": provider_id,
            "by": actor.subject,
            "e": ids,
            "c": [p.completeness for p in plan],
            "s": [p.share for p in plan],
            "ch": [p.charged for p in plan],
            "r": [p.released for p in plan],
        },
    )
    if len(inserted.all()) != len(plan):  # cannot happen under the row locks; the key defends it
        raise DomainError.of(ErrorCode.DUPLICATE, "provision_already", ITEMS, month=month.strftime("%m.%Y"))
    await conn.execute(
        text(
            "UPDATE enrollments e SET reserved = e.reserved - t.s, charged = e.charged + t.ch"
            " FROM unnest(CAST(:e AS bigint[]), CAST(:s AS bigint[]), CAST(:ch AS bigint[])) AS t(id, s, ch)"
            " WHERE e.id = t.id"
        ),
        {"e": ids, "s": [p.share for p in plan], "ch": [p.charged for p in plan]},
    )
    charged_in = [p.contract.period_id for p in plan if p.charged > 0]
    if charged_in:
        await statements.record_charges(conn, provider_id, month, charged_in)
    label = month.strftime("%m.%Y")
    for p in sorted(plan, key=lambda p: (p.contract.certificate_id, p.contract.id)):
        for kind, amount, description in (
            (ledger.Kind.CHARGE, p.charged, f"Оплата услуги за {label}, полнота оказания {p.completeness}%"),
            (
                ledger.Kind.RELEASE,
                p.released,
                f"Возврат неоказанной части услуги за {label} (полнота {p.completeness}%)",
            ),
        ):
            if amount > 0:
                entry = ledger.Entry(
                    kind=kind,
                    certificate_id=p.contract.certificate_id,
                    period_id=p.contract.period_id,
                    amount=amount,
                    description=f"{description}: {format_amount(amount)} ₽",
                    actor=actor.label,
                    enrollment_id=p.contract.id,
                    month=month,
                    completeness=p.completeness,
                )
                await (ledger.release(conn, entry) if kind is ledger.Kind.RELEASE else ledger.post(conn, entry))
    await notifications.charges_posted(
        conn,
        month,
        [notifications.Charge(p.contract.id, p.completeness, p.charged, p.released) for p in plan],
    )


# --- settlement ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settlement:
    provider_id: int
    month: date
    charged: int
    released: int
    contracts: int


async def settlement(conn: AsyncConnection, actor: Actor, provider_id: int, month: date) -> Settlement:
    """What certificates paid a provider for a month: the operator of the provider's municipality
    (or the provider itself)."""
    row = (await conn.execute(text("SELECT id, municipality FROM providers WHERE id = :p"), {"p": provider_id})).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", ["providerId"])
    if not can_read_provider_books(actor, provider_id, row.municipality):
        raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden", ["providerId"])
    month = month_start(month)
    totals = (
        await conn.execute(
            text(
                "SELECT coalesce(sum(charged), 0) AS charged, coalesce(sum(released), 0) AS released,"
                " count(*) AS contracts FROM provision_reports WHERE provider_id = :p AND month = :m"
            ),
            {"p": provider_id, "m": month},
        )
    ).one()
    return Settlement(provider_id, month, int(totals.charged), int(totals.released), int(totals.contracts))


async def municipality_settlements(conn: AsyncConnection, actor: Actor, month: date) -> list[Settlement]:
    """What the operator's municipality owes for the month, by provider: the reports of contracts its
    periods fund (the payer's, whatever the provider's municipality)."""
    require_role(actor, Role.OPERATOR)
    month = month_start(month)
    rows = await conn.execute(
        text(
            "SELECT r.provider_id, coalesce(sum(r.charged), 0) AS charged, coalesce(sum(r.released), 0) AS released,"
            " count(*) AS contracts FROM provision_reports r JOIN enrollments e ON e.id = r.enrollment_id"
            " JOIN funding_periods fp ON fp.id = e.period_id"
            " WHERE fp.municipality = :m AND r.month = :month GROUP BY r.provider_id ORDER BY r.provider_id"
        ),
        {"m": actor.municipality, "month": month},
    )
    return [Settlement(int(r.provider_id), month, int(r.charged), int(r.released), int(r.contracts)) for r in rows]
