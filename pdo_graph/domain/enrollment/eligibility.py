"""The facts of a certificate and a group (one statement), and the assessment: the terms of the
contract and every reason applying would be refused now.

The program's funding kind decides the money (domain.md, "Program kinds and certificate kinds"):
CERTIFICATE programs are paid from a certificate (certified programs only; a certificate QUEUED
beyond the period's funded limit is refused, CERTIFICATE_NOT_FUNDED), MUNICIPAL ones take a seat and no money, PAID ones are paid by the family in
full and touch no certificate money. Every kind needs the certificate ACTIVE and a period of its
municipality (the contract belongs to one); the period's ``openForApplications`` switch governs
certificate money, so it does not hold MUNICIPAL and PAID applications back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.enrollment.lifecycle import CERTIFICATE, GROUP
from pdo_graph.domain.enrollment.terms import Terms, compute_terms
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.people import age_on
from pdo_graph.domain.periods import CURRENT_PERIOD_ORDER

CERTIFICATE_KIND = "CERTIFICATE"
MUNICIPAL_KIND = "MUNICIPAL"
PAID_KIND = "PAID"


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the rule needs about a certificate and a group, read in one statement."""

    certificate_id: int
    certificate_status: str
    valid_until: date
    municipality: str
    child_id: int
    birth_date: date
    guardian_id: int
    guardian_subject: str
    group_id: int
    starts_on: date
    ends_on: date
    capacity: int
    seats_taken: int
    price: int
    enrollment_open: bool
    group_archived: bool
    program_id: int
    min_age: int
    max_age: int
    certified: bool
    program_archived: bool
    normative_cost: int | None
    provider_id: int
    funding_kind: str
    queued: bool  # the certificate waits beyond the period's funded limit (QUEUED)
    period_id: int | None
    period_starts_on: date | None
    period_ends_on: date | None
    open_for_applications: bool
    cap_at_normative: bool
    available: int
    enrolled: bool
    key_enrollment_id: int | None
    key_request_hash: str | None
    group_name: str  # for the provider's notice of a new application
    program_title: str
    opens_at: datetime | None  # the group's fair opening (module ``draw``), read with the rest
    window_ends_at: datetime | None
    drawn_at: datetime | None
    read_at: datetime  # the database's now() when these facts were read


Fetch = Callable[[str, Mapping[str, Any]], Awaitable[Sequence[Any]]]
"""Runs one read statement (``:name`` parameters) and returns its rows: ``RequestDb.fetch`` (the read
pool, outside any transaction) or a connection's (``on``)."""


def on(conn: AsyncConnection) -> Fetch:
    """``conn``'s statements as a :data:`Fetch` (inside the caller's transaction)."""

    async def fetch(sql: str, params: Mapping[str, Any]) -> Sequence[Any]:
        return (await conn.execute(text(sql), params)).all()

    return fetch


_FACTS_SQL = f"""
SELECT c.id AS certificate_id, c.status AS certificate_status, c.valid_until, c.municipality,
       ch.id AS child_id, ch.birth_date, gu.id AS guardian_id, gu.subject AS guardian_subject,
       g.id AS group_id, g.starts_on, g.ends_on, g.capacity, g.seats_taken, g.price, g.enrollment_open,
       g.archived AS group_archived,
       pg.id AS program_id, pg.min_age, pg.max_age, pg.certified, pg.archived AS program_archived,
       pg.normative_cost, pg.provider_id, pg.funding_kind,
       EXISTS (SELECT 1 FROM period_fundings f WHERE f.period_id = fp.id AND f.certificate_id = c.id
                AND f.status = 'QUEUED') AS queued,
       fp.id AS period_id, fp.starts_on AS period_starts_on, fp.ends_on AS period_ends_on, coalesce(fp.open_for_applications, false) AS open_for_applications,
       coalesce(fp.cap_at_normative, false) AS cap_at_normative,
       coalesce((SELECT b.available FROM balances b WHERE b.certificate_id = c.id AND b.period_id = fp.id), 0)
         AS available,
       EXISTS (SELECT 1 FROM enrollments e WHERE e.child_id = ch.id AND e.group_id = g.id
                AND e.status IN ('PENDING_DRAW', 'REQUESTED', 'ACTIVE', 'AWAITING_CONSENT')) AS enrolled,
       k.id AS key_enrollment_id, k.request_hash AS key_request_hash,
       g.name AS group_name, pg.title AS program_title,
       g.enrollment_opens_at AS opens_at, d.window_ends_at, d.drawn_at, now() AS read_at
  FROM certificates c
  JOIN children ch ON ch.id = c.child_id
  JOIN guardians gu ON gu.id = ch.guardian_id
  JOIN groups g ON g.id = :gid
  JOIN programs pg ON pg.id = g.program_id
  LEFT JOIN LATERAL (SELECT p.id, p.starts_on, p.ends_on, p.open_for_applications, p.cap_at_normative
                       FROM funding_periods p
                      WHERE p.municipality = c.municipality AND p.status = 'OPEN'
                      ORDER BY {CURRENT_PERIOD_ORDER} LIMIT 1) fp ON true
  LEFT JOIN enrollments k ON k.guardian_id = gu.id AND k.idempotency_key = :key
  LEFT JOIN group_draws d ON d.group_id = g.id
 WHERE c.id = :cid
"""


async def load_facts(
    conn: AsyncConnection, certificate_id: int, group_id: int, today: date, key: str | None = None
) -> Facts:
    """The facts, or NOT_FOUND naming the missing input."""
    return await read_facts(on(conn), certificate_id, group_id, today, key)


async def read_facts(fetch: Fetch, certificate_id: int, group_id: int, today: date, key: str | None = None) -> Facts:
    """The facts through ``fetch`` (one statement; a second one only to name a missing input)."""
    rows = await fetch(_FACTS_SQL, {"cid": certificate_id, "gid": group_id, "today": today, "key": key})
    if not rows:
        found = await fetch("SELECT EXISTS (SELECT 1 FROM certificates WHERE id = :c) AS found", {"c": certificate_id})
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", GROUP if found[0].found else CERTIFICATE)
    row = rows[0]
    return Facts(**(row._asdict() if hasattr(row, "_asdict") else dict(row)))


def assess(facts: Facts, today: date, holding_seat: bool = False) -> tuple[Terms, list[Problem]]:
    """The terms of the contract and every reason applying would be refused now.

    ``holding_seat``: the caller has already taken a seat (the count includes it).
    """
    by_certificate = facts.funding_kind == CERTIFICATE_KIND
    terms = compute_terms(
        0 if facts.funding_kind == MUNICIPAL_KIND else facts.price,
        facts.starts_on,
        facts.ends_on,
        today,
        facts.available if facts.period_id is not None and by_certificate else 0,
        facts.normative_cost,
        facts.cap_at_normative,
        facts.period_starts_on,
        facts.period_ends_on,
    )
    problems: list[Problem] = []
    if facts.certificate_status != "ACTIVE" or facts.valid_until < today:
        status = facts.certificate_status if facts.certificate_status != "ACTIVE" else "EXPIRED"
        problems.append(
            Problem(ErrorCode.CERTIFICATE_NOT_ACTIVE, "enrollment_certificate_inactive", CERTIFICATE, status=status)
        )
    if facts.period_id is None:
        problems.append(Problem(ErrorCode.PERIOD_CLOSED, "no_open_period", CERTIFICATE))
    elif by_certificate and not facts.open_for_applications:
        problems.append(Problem(ErrorCode.PERIOD_CLOSED, "period_closed", CERTIFICATE))
    elif terms.months == 0:
        problems.append(Problem(ErrorCode.PERIOD_CLOSED, "group_outside_period", GROUP))
    elif by_certificate and facts.queued:
        problems.append(Problem(ErrorCode.CERTIFICATE_NOT_FUNDED, "enrollment_certificate_not_funded", CERTIFICATE))
    if by_certificate and not facts.certified:
        problems.append(Problem(ErrorCode.PROGRAM_NOT_CERTIFIED, "enrollment_program_not_certified", GROUP))
    closed = not facts.enrollment_open or facts.group_archived or facts.program_archived or facts.ends_on < today
    if closed:
        problems.append(Problem(ErrorCode.GROUP_CLOSED, "enrollment_group_closed", GROUP))
    elif not holding_seat and facts.seats_taken >= facts.capacity:
        problems.append(Problem(ErrorCode.GROUP_FULL, "enrollment_group_full", GROUP))
    age = age_on(facts.birth_date, facts.starts_on)
    if not facts.min_age <= age <= facts.max_age:
        problems.append(
            Problem(ErrorCode.AGE_NOT_ELIGIBLE, "enrollment_age", GROUP, age=age, min=facts.min_age, max=facts.max_age)
        )
    if facts.enrolled:
        problems.append(Problem(ErrorCode.ALREADY_ENROLLED, "enrollment_already", GROUP))
    return terms, problems
