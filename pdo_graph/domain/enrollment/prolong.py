"""Prolongation (пролонгация): contracts that ended only because their period closed, in groups that
still run, become new contracts in the municipality's next period.

Each prolonged contract is a new enrollment (``prolonged_from`` names the old one: one prolongation
per contract, so prolonging twice makes one contract) with a fresh quote for the group's months in
the new period, its reserve and its seat. It is ACTIVE at once (the provider keeps the pupil) unless
what the family pays a month changes: then AWAITING_CONSENT until the guardian confirms the new
figure (``consent.consent``). The provider prolongs its own contracts, the operator those of its
municipality; a certificate that is not active (an 18th birthday, a revocation) is not prolonged.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain import ledger
from pdo_graph.domain.access import Actor, Role, require_operator_of, require_provider
from pdo_graph.domain.enrollment.apply import insert_enrollment
from pdo_graph.domain.enrollment.consent import share_changed
from pdo_graph.domain.enrollment.eligibility import assess, load_facts
from pdo_graph.domain.enrollment.terms import compute_terms, request_hash
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.money import format_amount
from pdo_graph.domain.periods import PERIOD, lock_shared

IDS = ["enrollmentIds"]

_CANDIDATES = """
SELECT e.id, e.certificate_id, e.group_id, e.from_family, e.months, pg.provider_id
  FROM enrollments e
  JOIN funding_periods op ON op.id = e.period_id
  JOIN groups g ON g.id = e.group_id
  JOIN programs pg ON pg.id = g.program_id
 WHERE op.municipality = :m AND op.ends_on < :starts AND e.status = 'COMPLETED' AND e.ended_by_period
   AND g.ends_on >= :starts AND NOT g.archived
   AND (CAST(:provider AS bigint) IS NULL OR pg.provider_id = :provider)
   AND (CAST(:ids AS bigint[]) IS NULL OR e.id = ANY(:ids))
   AND NOT EXISTS (SELECT 1 FROM enrollments n WHERE n.prolonged_from = e.id)
 ORDER BY e.id
"""


async def prolong(
    conn: AsyncConnection, actor: Actor, period_id: int, enrollment_ids: list[int] | None, today: date
) -> list[int]:
    """Prolong into period ``period_id`` the caller's eligible contracts (``enrollment_ids``: only
    these; None: every one in the caller's scope); returns the new enrollments' ids (with the earlier
    prolongations of the ids asked for, so a repeated call answers the same)."""
    period = (
        await conn.execute(
            text("SELECT id, municipality, starts_on, status FROM funding_periods WHERE id = :p"), {"p": period_id}
        )
    ).first()
    if period is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", PERIOD)
    provider_id: int | None = None
    if actor.role is Role.PROVIDER:
        provider_id = require_provider(actor)
    else:
        require_operator_of(actor, period.municipality, PERIOD)
    gate = (await lock_shared(conn, [period_id]))[period_id]
    if gate.closed:
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "prolong_period_not_open", PERIOD)
    if enrollment_ids is not None:
        await _require_in_scope(conn, enrollment_ids, period.municipality, provider_id)
    params = {"m": period.municipality, "starts": period.starts_on, "provider": provider_id, "ids": enrollment_ids}
    found = (await conn.execute(text(_CANDIDATES), params)).all()
    earlier: list[int] = []
    if enrollment_ids is not None:
        earlier = [
            int(r.id)
            for r in await conn.execute(
                text("SELECT id FROM enrollments WHERE prolonged_from = ANY(:ids) ORDER BY id"), {"ids": enrollment_ids}
            )
        ]
        if len(found) + len(earlier) < len(set(enrollment_ids)):
            raise DomainError.of(ErrorCode.INVALID, "prolong_not_eligible", IDS)
    created = []
    for r in found:
        new_id = await _prolong_one(conn, actor, period_id, r, today)
        if new_id is not None:
            created.append(new_id)
        elif enrollment_ids is not None:
            raise DomainError.of(ErrorCode.INVALID, "prolong_not_eligible", IDS)
    return sorted(earlier + created)


async def _require_in_scope(
    conn: AsyncConnection, enrollment_ids: list[int], municipality: str, provider_id: int | None
) -> None:
    """Each id is a contract of the caller: of its groups (a provider), of a period of the new period's
    municipality (the operator); others are NOT_FOUND (their existence is not the caller's to know)."""
    rows = await conn.execute(
        text(
            "SELECT e.id FROM enrollments e JOIN funding_periods p ON p.id = e.period_id"
            " JOIN groups g ON g.id = e.group_id JOIN programs pg ON pg.id = g.program_id"
            " WHERE e.id = ANY(:ids) AND p.municipality = :m"
            " AND (CAST(:provider AS bigint) IS NULL OR pg.provider_id = :provider)"
        ),
        {"ids": enrollment_ids, "m": municipality, "provider": provider_id},
    )
    mine = {int(r.id) for r in rows}
    problems = [
        Problem(ErrorCode.NOT_FOUND, "not_found", [*IDS, str(i)]) for i, e in enumerate(enrollment_ids) if e not in mine
    ]
    if problems:
        raise DomainError(*problems)


async def _prolong_one(conn: AsyncConnection, actor: Actor, period_id: int, old: object, today: date) -> int | None:
    """One contract; None when it cannot be prolonged now (the certificate, the age, no seat)."""
    certificate_id, group_id = int(old.certificate_id), int(old.group_id)  # type: ignore[attr-defined]
    key = f"prolong:{old.id}"  # type: ignore[attr-defined]
    facts = await load_facts(conn, certificate_id, group_id, today, key)
    if facts.period_id != period_id:
        return None
    status = (
        await conn.execute(text("SELECT status FROM certificates WHERE id = :c FOR SHARE"), {"c": certificate_id})
    ).scalar_one()
    facts = replace(facts, certificate_status=status, enrolled=facts.enrolled, enrollment_open=True)
    _, problems = assess(facts, today)
    # a prolongation keeps the pupil's place: the group's enrollment switch and the age on the group's
    # start (checked when the child joined) do not apply; a full group has no place to keep
    if any(p.code not in (ErrorCode.AGE_NOT_ELIGIBLE, ErrorCode.GROUP_FULL) for p in problems):
        return None
    seat = (
        await conn.execute(
            text(
                "UPDATE groups SET seats_taken = seats_taken + 1 WHERE id = :g AND seats_taken < capacity"
                " AND NOT archived RETURNING 1"
            ),
            {"g": group_id},
        )
    ).first()
    if seat is None:
        return None
    available = (
        await conn.execute(
            text("SELECT available FROM balances WHERE certificate_id = :c AND period_id = :p FOR NO KEY UPDATE"),
            {"c": certificate_id, "p": period_id},
        )
    ).scalar()
    terms = compute_terms(
        facts.price,
        facts.starts_on,
        facts.ends_on,
        today,
        int(available or 0),
        facts.normative_cost,
        facts.cap_at_normative,
        facts.period_starts_on,
        facts.period_ends_on,
    )
    changed = share_changed(int(old.from_family), int(old.months), terms.from_family, terms.months)  # type: ignore[attr-defined]
    status = "AWAITING_CONSENT" if changed else "ACTIVE"
    hashed = request_hash(certificate_id, group_id)
    inserted = await insert_enrollment(conn, facts, period_id, terms, key, hashed, status, int(old.id))  # type: ignore[attr-defined]
    if inserted is None:  # prolonged meanwhile, or the child holds another live contract for the group
        await conn.execute(text("UPDATE groups SET seats_taken = seats_taken - 1 WHERE id = :g"), {"g": group_id})
        return None
    if terms.from_certificate > 0:
        await ledger.post(
            conn,
            ledger.Entry(
                kind=ledger.Kind.RESERVE,
                certificate_id=certificate_id,
                period_id=period_id,
                amount=terms.from_certificate,
                description=f"Резерв по продлённому договору: {format_amount(terms.from_certificate)} ₽",
                actor=actor.label,
                enrollment_id=inserted.id,
            ),
        )
    return inserted.id
