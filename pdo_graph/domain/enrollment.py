"""Enrollment: quote → application → contract → monthly charges; cancellation, expiry, reviews.

One rule, one place: ``assess`` computes the price, the certificate/family split, the monthly
plan and the refusals from the facts of a certificate and a group. ``quote`` shows it;
``create`` redoes it inside the transaction after taking the locks.

Lock order (architecture.md), every service below follows it:

1. the funding period rows the money moves in (``periods.lock_shared``: ``FOR SHARE``, sorted;
   a close, an update or a funding run holds them exclusively, so every movement serialises
   with them and reads the period's state under the lock);
2. the certificate row (``FOR SHARE`` when applying; a revocation or a freeze holds it
   ``FOR NO KEY UPDATE``, so an application and a status change serialise);
3. the group's seat row (guarded ``UPDATE groups ... WHERE seats_taken < capacity`` or
   ``FOR NO KEY UPDATE``);
4. enrollment rows (``FOR NO KEY UPDATE``, sorted by id);
5. certificate balance rows (``FOR NO KEY UPDATE`` or ledger.post's guarded update, in
   certificate order);

and only then inserts that reference those rows (an insert takes foreign-key share locks first,
which deadlocks against a later row lock under contention). Provision reports take no seat
rows: periods, enrollment rows, then balances. Ending several contracts in one transaction (a
revocation, a period's close: ``end_contracts``) takes every period, group and enrollment lock,
each sorted, before the first balance.

Statuses: ``REQUESTED -> ACTIVE | REFUSED | EXPIRED | TERMINATED`` (the guardian withdraws an
unanswered application: TERMINATED with ``decided_at`` empty), ``ACTIVE -> TERMINATED |
COMPLETED``. ``decided_at`` is when the provider accepted or refused, so "was ever active" is
``decided_at IS NOT NULL`` for TERMINATED.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.auth.principal import Principal, Role
from pdo_graph.db.session import transaction
from pdo_graph.domain import ledger
from pdo_graph.domain.access import require_guardian, require_role
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.money import (
    add_months,
    format_amount,
    month_start,
    months_between,
    percent_of,
    prorate,
    split_evenly,
)
from pdo_graph.domain.people import age_on
from pdo_graph.domain.periods import CURRENT_PERIOD_ORDER, lock_shared

MAX_KEY_LENGTH = 200
MAX_REASON_LENGTH = 1000
MAX_REVIEW_LENGTH = 2000
MAX_REPORT_ITEMS = 500
EXPIRY_BATCH = 500

CERT_FIELD = ["input", "certificateId"]
GROUP_FIELD = ["input", "groupId"]
ENROLLMENT_FIELD = ["input", "enrollmentId"]


class Status(StrEnum):
    REQUESTED = "REQUESTED"
    ACTIVE = "ACTIVE"
    REFUSED = "REFUSED"
    EXPIRED = "EXPIRED"
    TERMINATED = "TERMINATED"
    COMPLETED = "COMPLETED"


# --- the money rule (pure) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthShare:
    """One month of a contract: what the certificate and the family pay for it."""

    month: date
    from_certificate: int
    from_family: int


@dataclass(frozen=True, slots=True)
class Terms:
    """The money of a (prospective) contract."""

    full_price: int  # the group's price for its whole run
    price: int  # the price of the months the contract covers
    from_certificate: int
    from_family: int
    first_month: date
    months: int
    months_total: int
    monthly: tuple[MonthShare, ...]

    @property
    def joins_running_group(self) -> bool:
        return self.months < self.months_total


def contract_span(starts_on: date, ends_on: date, today: date) -> tuple[date, int, int]:
    """(first month, months covered, months of the whole run).

    A group that has not started yet is joined for its whole run; a running group from the
    current month to its end (an ended group is clamped to its last month; it is closed anyway).
    """
    total = months_between(starts_on, ends_on)
    if today <= starts_on:
        return month_start(starts_on), total, total
    first = min(month_start(today), month_start(ends_on))
    return first, months_between(first, ends_on), total


def contract_price(full_price: int, months: int, months_total: int) -> int:
    """price × months_left / months_total, rounded to kopecks (the whole price for a whole run)."""
    if months >= months_total:
        return full_price
    return prorate(full_price, months, months_total)


def certificate_part(price: int, available: int, cap: int | None) -> int:
    """What the certificate pays: min(price, available[, cap]); never negative."""
    part = min(price, available)
    if cap is not None:
        part = min(part, cap)
    return max(0, part)


def monthly_plan(first_month: date, months: int, from_certificate: int, from_family: int) -> tuple[MonthShare, ...]:
    """Both parts split over the months; the first month takes each part's rounding remainder."""
    cert = split_evenly(from_certificate, months)
    family = split_evenly(from_family, months)
    return tuple(MonthShare(add_months(first_month, i), cert[i], family[i]) for i in range(months))


def compute_terms(
    full_price: int,
    starts_on: date,
    ends_on: date,
    today: date,
    available: int,
    normative_cost: int | None,
    cap_at_normative: bool,
) -> Terms:
    first, months, total = contract_span(starts_on, ends_on, today)
    price = contract_price(full_price, months, total)
    cap = contract_price(normative_cost, months, total) if cap_at_normative and normative_cost is not None else None
    from_certificate = certificate_part(price, available, cap)
    from_family = price - from_certificate
    return Terms(
        full_price=full_price,
        price=price,
        from_certificate=from_certificate,
        from_family=from_family,
        first_month=first,
        months=months,
        months_total=total,
        monthly=monthly_plan(first, months, from_certificate, from_family),
    )


def month_index(first_month: date, months: int, month: date) -> int | None:
    """Position of ``month`` in a contract, or None when it lies outside."""
    index = months_between(first_month, month) - 1
    return index if 0 <= index < months else None


def certificate_share(from_certificate: int, months: int, index: int) -> int:
    """The certificate's share of one month of a contract."""
    return split_evenly(from_certificate, months)[index]


def provision_amounts(share: int, completeness: int) -> tuple[int, int]:
    """(charged, released) for a month's share at a completeness in percent."""
    if not 0 <= completeness <= 100:
        raise ValueError("completeness is a percentage")
    charged = percent_of(share, completeness)
    return charged, share - charged


def request_hash(certificate_id: int, group_id: int) -> str:
    """What an idempotency key is bound to: the certificate and the group."""
    return hashlib.sha256(f"enrollmentCreate|{certificate_id}|{group_id}".encode()).hexdigest()


# --- facts and the assessment --------------------------------------------------------------------


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
    period_id: int | None
    open_for_applications: bool
    cap_at_normative: bool
    available: int
    enrolled: bool
    key_enrollment_id: int | None
    key_request_hash: str | None


_FACTS_SQL = f"""
SELECT c.id AS certificate_id, c.status AS certificate_status, c.valid_until, c.municipality,
       ch.id AS child_id, ch.birth_date, gu.id AS guardian_id, gu.subject AS guardian_subject,
       g.id AS group_id, g.starts_on, g.ends_on, g.capacity, g.seats_taken, g.price, g.enrollment_open,
       g.archived AS group_archived,
       pg.id AS program_id, pg.min_age, pg.max_age, pg.certified, pg.archived AS program_archived,
       pg.normative_cost, pg.provider_id,
       fp.id AS period_id, coalesce(fp.open_for_applications, false) AS open_for_applications,
       coalesce(fp.cap_at_normative, false) AS cap_at_normative,
       coalesce((SELECT b.credited - b.reserved - b.spent - b.expired FROM balances b
                  WHERE b.certificate_id = c.id AND b.period_id = fp.id), 0) AS available,
       EXISTS (SELECT 1 FROM enrollments e WHERE e.child_id = ch.id AND e.group_id = g.id
                AND e.status IN ('REQUESTED', 'ACTIVE')) AS enrolled,
       k.id AS key_enrollment_id, k.request_hash AS key_request_hash
  FROM certificates c
  JOIN children ch ON ch.id = c.child_id
  JOIN guardians gu ON gu.id = ch.guardian_id
  JOIN groups g ON g.id = :gid
  JOIN programs pg ON pg.id = g.program_id
  LEFT JOIN LATERAL (SELECT p.id, p.open_for_applications, p.cap_at_normative FROM funding_periods p
                      WHERE p.municipality = c.municipality AND p.status = 'OPEN'
                      ORDER BY {CURRENT_PERIOD_ORDER} LIMIT 1) fp ON true
  LEFT JOIN enrollments k ON k.guardian_id = gu.id AND k.idempotency_key = :key
 WHERE c.id = :cid
"""


async def load_facts(
    conn: AsyncConnection, certificate_id: int, group_id: int, today: date, key: str | None = None
) -> Facts:
    """The facts, or NOT_FOUND naming the missing input."""
    row = (
        await conn.execute(text(_FACTS_SQL), {"cid": certificate_id, "gid": group_id, "today": today, "key": key})
    ).first()
    if row is None:
        found = (
            await conn.execute(text("SELECT EXISTS (SELECT 1 FROM certificates WHERE id = :c)"), {"c": certificate_id})
        ).scalar()
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", GROUP_FIELD if found else CERT_FIELD)
    return Facts(**row._asdict())


def assess(facts: Facts, today: date, holding_seat: bool = False) -> tuple[Terms, list[Problem]]:
    """The terms of the contract and every reason applying would be refused now.

    ``holding_seat``: the caller has already taken a seat (the count includes it).
    """
    terms = compute_terms(
        facts.price,
        facts.starts_on,
        facts.ends_on,
        today,
        facts.available if facts.period_id is not None else 0,
        facts.normative_cost,
        facts.cap_at_normative,
    )
    problems: list[Problem] = []
    if facts.certificate_status != "ACTIVE" or facts.valid_until < today:
        status = facts.certificate_status if facts.certificate_status != "ACTIVE" else "EXPIRED"
        problems.append(
            Problem(ErrorCode.CERTIFICATE_NOT_ACTIVE, "enrollment_certificate_inactive", CERT_FIELD, status=status)
        )
    if facts.period_id is None:
        problems.append(Problem(ErrorCode.PERIOD_CLOSED, "no_open_period", CERT_FIELD))
    elif not facts.open_for_applications:
        problems.append(Problem(ErrorCode.PERIOD_CLOSED, "period_closed", CERT_FIELD))
    if not facts.certified:
        problems.append(Problem(ErrorCode.PROGRAM_NOT_CERTIFIED, "enrollment_program_not_certified", GROUP_FIELD))
    closed = not facts.enrollment_open or facts.group_archived or facts.program_archived or facts.ends_on < today
    if closed:
        problems.append(Problem(ErrorCode.GROUP_CLOSED, "enrollment_group_closed", GROUP_FIELD))
    elif not holding_seat and facts.seats_taken >= facts.capacity:
        problems.append(Problem(ErrorCode.GROUP_FULL, "enrollment_group_full", GROUP_FIELD))
    age = age_on(facts.birth_date, facts.starts_on)
    if not facts.min_age <= age <= facts.max_age:
        problems.append(
            Problem(
                ErrorCode.AGE_NOT_ELIGIBLE, "enrollment_age", GROUP_FIELD, age=age, min=facts.min_age, max=facts.max_age
            )
        )
    if facts.enrolled:
        problems.append(Problem(ErrorCode.ALREADY_ENROLLED, "enrollment_already", GROUP_FIELD))
    return terms, problems


# --- quote ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    terms: Terms | None  # None when the caller may not see it or an input is unknown
    problems: list[Problem]


def _may_quote(principal: Principal, facts: Facts) -> bool:
    if principal.role is Role.GUARDIAN:
        return principal.subject == facts.guardian_subject
    if principal.role is Role.OPERATOR:
        return principal.municipality == facts.municipality
    return False


async def quote(conn: AsyncConnection, principal: Principal, certificate_id: int, group_id: int, today: date) -> Quote:
    """The guardian of the certificate or the operator of its municipality; others get FORBIDDEN."""
    try:
        facts = await load_facts(conn, certificate_id, group_id, today)
    except DomainError as exc:
        return Quote(None, _arguments(exc.problems))
    if not _may_quote(principal, facts):
        return Quote(None, _arguments([Problem(ErrorCode.FORBIDDEN, "forbidden", CERT_FIELD)]))
    terms, problems = assess(facts, today)
    return Quote(terms, _arguments(problems))


def _arguments(problems: Sequence[Problem]) -> list[Problem]:
    """The quote takes arguments, not an input: ["input", "groupId"] becomes ["groupId"]."""
    return [
        Problem(p.code, p.key, p.field[1:], **p.params) if p.field and p.field[0] == "input" else p for p in problems
    ]


# --- apply ---------------------------------------------------------------------------------------


def _validate_key(key: str) -> str:
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise DomainError.of(ErrorCode.INVALID, "text_length", ["input", "idempotencyKey"], min=1, max=MAX_KEY_LENGTH)
    return key


def _replay(enrollment_id: int, stored_hash: str | None, wanted_hash: str) -> int:
    if stored_hash != wanted_hash:
        raise DomainError.of(ErrorCode.IDEMPOTENCY_KEY_REUSED, "enrollment_key_reused", ["input", "idempotencyKey"])
    return enrollment_id


async def _release_seat(conn: AsyncConnection, group_id: int) -> None:
    await conn.execute(text("UPDATE groups SET seats_taken = seats_taken - 1 WHERE id = :g"), {"g": group_id})


async def create(
    conn: AsyncConnection, principal: Principal, certificate_id: int, group_id: int, key: str, today: date
) -> int:
    """A guardian applies for a group with a certificate; returns the enrollment id.

    The split is recomputed here under the locks; the client's quote is never trusted. A
    replay of the same key and request returns the first enrollment and changes nothing.
    """
    subject = require_guardian(principal)
    key = _validate_key(key)
    wanted = request_hash(certificate_id, group_id)
    # 1. idempotency first (the facts carry the key): a retry of an accepted request succeeds
    #    whatever happened since; 2. then the rule on a plain read, so that most refusals (a full
    #    group in the rush) cost no lock
    facts = await load_facts(conn, certificate_id, group_id, today, key)
    if facts.guardian_subject != subject:
        raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden", CERT_FIELD)
    if facts.key_enrollment_id is not None:
        return _replay(facts.key_enrollment_id, facts.key_request_hash, wanted)
    _, problems = assess(facts, today)
    if problems:
        raise DomainError(*problems)
    # 3. the period and the certificate rows, shared: a close, a revocation or a freeze racing this
    #    application waits for it, or has committed and is seen here (the rule runs again on them)
    facts = await _lock_period_and_certificate(conn, facts)
    _, problems = assess(facts, today)
    if problems:
        raise DomainError(*problems)
    # 4. the seat row: one guarded update
    seat = (
        await conn.execute(
            text(
                "UPDATE groups SET seats_taken = seats_taken + 1"
                " WHERE id = :g AND seats_taken < capacity AND enrollment_open AND NOT archived RETURNING seats_taken"
            ),
            {"g": group_id},
        )
    ).first()
    if seat is None:
        # no seat: a twin of this request may have taken the last one, or the group just closed
        facts = await load_facts(conn, certificate_id, group_id, today, key)
        if facts.key_enrollment_id is not None:
            return _replay(facts.key_enrollment_id, facts.key_request_hash, wanted)
        _, problems = assess(facts, today)
        raise DomainError(*(problems or [Problem(ErrorCode.GROUP_FULL, "enrollment_group_full", GROUP_FIELD)]))
    # 5. the balance row, while holding the seat: the split is computed from the locked balance
    #    (a live twin or a reused key is caught by the unique indexes below)
    assert facts.period_id is not None  # assess refuses without a period
    available = (
        await conn.execute(
            text(
                "SELECT credited - reserved - spent - expired FROM balances"
                " WHERE certificate_id = :c AND period_id = :p FOR NO KEY UPDATE"
            ),
            {"c": certificate_id, "p": facts.period_id},
        )
    ).scalar()
    terms, _ = assess(replace(facts, available=int(available or 0)), today, holding_seat=True)
    # 6. only now the insert that references the locked rows
    enrollment_id = (
        await conn.execute(
            text(
                "INSERT INTO enrollments (certificate_id, child_id, group_id, period_id, guardian_id, status, price,"
                " from_certificate, from_family, first_month, months, reserved, idempotency_key, request_hash)"
                " VALUES (:c, :ch, :g, :p, :gu, 'REQUESTED', :price, :fc, :ff, :fm, :m, :fc, :k, :h)"
                " ON CONFLICT DO NOTHING RETURNING id"
            ),
            {
                "c": certificate_id,
                "ch": facts.child_id,
                "g": group_id,
                "p": facts.period_id,
                "gu": facts.guardian_id,
                "price": terms.price,
                "fc": terms.from_certificate,
                "ff": terms.from_family,
                "fm": terms.first_month,
                "m": terms.months,
                "k": key,
                "h": wanted,
            },
        )
    ).scalar()
    if enrollment_id is None:
        # a unique index said no: the key (a twin on another group), or the live application
        again = await load_facts(conn, certificate_id, group_id, today, key)
        if again.key_enrollment_id is not None:
            await _release_seat(conn, group_id)
            return _replay(again.key_enrollment_id, again.key_request_hash, wanted)
        raise DomainError.of(ErrorCode.ALREADY_ENROLLED, "enrollment_already", GROUP_FIELD)
    if terms.from_certificate > 0:
        await ledger.post(
            conn,
            ledger.Entry(
                kind=ledger.Kind.RESERVE,
                certificate_id=certificate_id,
                period_id=facts.period_id,
                amount=terms.from_certificate,
                description=f"Резерв по заявке на зачисление в группу: {format_amount(terms.from_certificate)} ₽",
                actor=f"guardian:{subject}",
                enrollment_id=int(enrollment_id),
                idempotency_key=key,
            ),
        )
    return int(enrollment_id)


async def _lock_period_and_certificate(conn: AsyncConnection, facts: Facts) -> Facts:
    """The facts with the period's and the certificate's state read under their share locks."""
    assert facts.period_id is not None  # assess refuses without a period
    gate = (await lock_shared(conn, [facts.period_id]))[facts.period_id]
    status = (
        await conn.execute(text("SELECT status FROM certificates WHERE id = :c FOR SHARE"), {"c": facts.certificate_id})
    ).scalar_one()
    return replace(
        facts,
        certificate_status=status,
        period_id=None if gate.closed else facts.period_id,
        open_for_applications=gate.open_for_applications,
    )


# --- decisions, cancellation, expiry, completion -------------------------------------------------


_ENROLLMENT_COLUMNS = (
    "SELECT e.id, e.status, e.group_id, e.certificate_id, e.period_id, e.reserved, e.charged, e.from_certificate,"
    " e.first_month, e.months, e.created_at, e.decided_at, gu.subject AS guardian_subject, pg.provider_id,"
    " pg.id AS program_id"
)
_ENROLLMENT_FROM = (
    " FROM enrollments e JOIN guardians gu ON gu.id = e.guardian_id JOIN groups g ON g.id = e.group_id"
    " JOIN programs pg ON pg.id = g.program_id"
)
_ENROLLMENT_SQL = _ENROLLMENT_COLUMNS + _ENROLLMENT_FROM


async def _enrollment(conn: AsyncConnection, enrollment_id: int, lock: bool = False) -> Row[Any]:
    suffix = " FOR NO KEY UPDATE OF e" if lock else ""
    row = (await conn.execute(text(_ENROLLMENT_SQL + " WHERE e.id = :id" + suffix), {"id": enrollment_id})).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", ENROLLMENT_FIELD)
    return row


def require_provider(principal: Principal, provider_id: int | None) -> str:
    """A PROVIDER principal whose organisation is known (``provider_id`` resolved from its token)."""
    subject = require_role(principal, Role.PROVIDER)
    if provider_id is None:
        raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden")
    return subject


def clean_reason(reason: str | None) -> str | None:
    if reason is None or not reason.strip():
        return None
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON_LENGTH:
        raise DomainError.of(ErrorCode.INVALID, "text_length", ["input", "reason"], min=0, max=MAX_REASON_LENGTH)
    return reason


def _transition_error(status: str) -> DomainError:
    return DomainError.of(ErrorCode.INVALID_TRANSITION, "enrollment_transition", ENROLLMENT_FIELD, status=status)


_RELEASE_TEXT = {
    Status.REFUSED: "Возврат резерва: поставщик отказал в зачислении",
    Status.EXPIRED: "Возврат резерва: заявка не рассмотрена в срок",
    Status.TERMINATED: "Возврат резерва: договор расторгнут",
    Status.COMPLETED: "Возврат неизрасходованного резерва: обучение в группе завершено",
}


async def _close(
    conn: AsyncConnection,
    enrollment_id: int,
    allowed: tuple[Status, ...],
    target: Status,
    actor: str,
    reason: str | None,
    decided: bool,
    release_text: str | None = None,
) -> bool:
    """Move a live enrollment to a final status: seat freed, the remaining reserve released.

    Locks the period (shared), the group, then the enrollment, then (through the ledger) the
    balance. Returns False when the enrollment is no longer in one of ``allowed`` statuses
    (callers decide whether that is an error).
    """
    where = (
        await conn.execute(text("SELECT group_id, period_id FROM enrollments WHERE id = :id"), {"id": enrollment_id})
    ).one()
    await lock_shared(conn, [int(where.period_id)])
    await conn.execute(text("SELECT 1 FROM groups WHERE id = :g FOR NO KEY UPDATE"), {"g": where.group_id})
    e = await _enrollment(conn, enrollment_id, lock=True)
    if Status(e.status) not in allowed:
        return False
    await conn.execute(
        text(
            "UPDATE enrollments SET status = :s, reserved = 0, reason = coalesce(:r, reason), ended_at = now(),"
            " decided_at = CASE WHEN :decided THEN now() ELSE decided_at END WHERE id = :id"
        ),
        {"s": target.value, "r": reason, "decided": decided, "id": enrollment_id},
    )
    await _release_seat(conn, where.group_id)
    if e.reserved > 0:
        await ledger.release(
            conn,
            ledger.Entry(
                kind=ledger.Kind.RELEASE,
                certificate_id=e.certificate_id,
                period_id=e.period_id,
                amount=int(e.reserved),
                description=f"{release_text or _RELEASE_TEXT[target]}: {format_amount(int(e.reserved))} ₽",
                actor=actor,
                enrollment_id=enrollment_id,
            ),
        )
    return True


async def end_contracts(
    conn: AsyncConnection,
    of: Literal["period_id", "certificate_id"],
    owner_id: int,
    targets: Mapping[Status, Status],
    actor: str,
    reason: str,
    release_text: str,
) -> int:
    """End every live enrollment of a period or a certificate in one transaction (the period's
    close, the certificate's revocation).

    Each one still REQUESTED or ACTIVE under its lock moves to ``targets[status]``: its seat is
    freed and its reserve released (expiring at once in a closed period). Every period (shared),
    group and enrollment lock is taken, each sorted, before the first balance; balances follow in
    certificate order. Returns how many ended.
    """
    found = (
        await conn.execute(
            text(
                "SELECT id, group_id, period_id, certificate_id FROM enrollments"
                f" WHERE {of} = :owner AND status IN ('REQUESTED', 'ACTIVE')"
            ),
            {"owner": owner_id},
        )
    ).all()
    if not found:
        return 0
    await lock_shared(conn, [int(r.period_id) for r in found])
    await conn.execute(
        text("SELECT 1 FROM groups WHERE id = ANY(:g) ORDER BY id FOR NO KEY UPDATE"),
        {"g": sorted({int(r.group_id) for r in found})},
    )
    statuses = await conn.execute(
        text("SELECT id, status FROM enrollments WHERE id = ANY(:ids) ORDER BY id FOR NO KEY UPDATE"),
        {"ids": [int(r.id) for r in found]},
    )
    status_of = {int(r.id): Status(r.status) for r in statuses}
    ended = 0
    for r in sorted(found, key=lambda r: (r.certificate_id, r.id)):
        status = status_of[int(r.id)]
        target = targets.get(status)
        if target is not None:
            ended += await _close(conn, int(r.id), (status,), target, actor, reason, False, release_text)
    return ended


async def end_period_contracts(conn: AsyncConnection, period_id: int, actor: str) -> int:
    """At a period's close its contracts end: ACTIVE -> COMPLETED, REQUESTED -> EXPIRED (domain.md,
    "Contracts never outlive their period"). The caller holds the period exclusively."""
    return await end_contracts(
        conn,
        "period_id",
        period_id,
        {Status.REQUESTED: Status.EXPIRED, Status.ACTIVE: Status.COMPLETED},
        actor,
        reason="Период финансирования закрыт",
        release_text="Возврат резерва: период финансирования закрыт",
    )


async def end_certificate_contracts(conn: AsyncConnection, certificate_id: int, actor: str, reason: str) -> int:
    """A revoked certificate's applications and contracts end (TERMINATED), reserves released."""
    return await end_contracts(
        conn,
        "certificate_id",
        certificate_id,
        {Status.REQUESTED: Status.TERMINATED, Status.ACTIVE: Status.TERMINATED},
        actor,
        reason=reason,
        release_text="Возврат резерва: сертификат отозван",
    )


def _stale(created_at: datetime, now: datetime, expiry_days: int) -> bool:
    return created_at < now - timedelta(days=expiry_days)


async def accept(
    conn: AsyncConnection,
    principal: Principal,
    provider_id: int | None,
    enrollment_id: int,
    expiry_days: int,
    now: datetime | None = None,
) -> int:
    """The provider of the group concludes the contract: REQUESTED -> ACTIVE."""
    require_provider(principal, provider_id)
    e = await _enrollment(conn, enrollment_id, lock=True)
    if e.provider_id != provider_id:
        raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden", ENROLLMENT_FIELD)
    if e.status != Status.REQUESTED:
        raise _transition_error(e.status)
    current = now or (await conn.execute(text("SELECT now()"))).scalar_one()
    if _stale(e.created_at, current, expiry_days):
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "enrollment_stale", ENROLLMENT_FIELD, days=expiry_days)
    await conn.execute(
        text("UPDATE enrollments SET status = 'ACTIVE', decided_at = now() WHERE id = :id"), {"id": enrollment_id}
    )
    return enrollment_id


async def refuse(
    conn: AsyncConnection, principal: Principal, provider_id: int | None, enrollment_id: int, reason: str | None
) -> int:
    """The provider refuses an application: REFUSED, reserve released, seat freed, reason kept."""
    subject = require_provider(principal, provider_id)
    reason = clean_reason(reason)
    e = await _enrollment(conn, enrollment_id)
    if e.provider_id != provider_id:
        raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden", ENROLLMENT_FIELD)
    if not await _close(
        conn, enrollment_id, (Status.REQUESTED,), Status.REFUSED, f"provider:{subject}", reason, decided=True
    ):
        raise _transition_error((await _enrollment(conn, enrollment_id)).status)
    return enrollment_id


async def cancel(
    conn: AsyncConnection, principal: Principal, provider_id: int | None, enrollment_id: int, reason: str | None
) -> int:
    """Terminate (расторжение) by the guardian or the provider.

    Months already charged stay charged; the whole remaining reserve returns to available at
    once; the seat is freed. The guardian may also withdraw an unanswered application (it
    becomes TERMINATED with no decision date); the provider refuses those instead.
    """
    reason = clean_reason(reason)
    e = await _enrollment(conn, enrollment_id)
    if principal.role is Role.GUARDIAN and principal.subject == e.guardian_subject:
        allowed: tuple[Status, ...] = (Status.REQUESTED, Status.ACTIVE)
        actor = f"guardian:{principal.subject}"
    elif principal.role is Role.PROVIDER and provider_id is not None and provider_id == e.provider_id:
        allowed = (Status.ACTIVE,)
        actor = f"provider:{principal.subject}"
    else:
        raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden", ENROLLMENT_FIELD)
    if not await _close(conn, enrollment_id, allowed, Status.TERMINATED, actor, reason, decided=False):
        status = (await _enrollment(conn, enrollment_id)).status
        if status == Status.REQUESTED:
            raise DomainError.of(ErrorCode.INVALID_TRANSITION, "enrollment_provider_cancel_requested", ENROLLMENT_FIELD)
        raise _transition_error(status)
    return enrollment_id


async def expire_stale_applications(engine: AsyncEngine, expiry_days: int, now: datetime | None = None) -> int:
    """Applications unanswered for ``expiry_days`` become EXPIRED (reserve released, seat freed).

    One short transaction per application; safe to run from many processes at once (each
    re-checks the status under its locks). Returns how many expired. The CLI's
    ``pdo-graph enrollments expire`` and the server's housekeeping loop call this.
    """

    async def batch(conn: AsyncConnection) -> list[int]:
        rows = await conn.execute(
            text(
                "SELECT id FROM enrollments WHERE status = 'REQUESTED'"
                " AND created_at < coalesce(CAST(:now AS timestamptz), now()) - make_interval(days => :d)"
                " AND id > :after ORDER BY id LIMIT :n"
            ),
            {"now": now, "d": expiry_days, "after": after, "n": EXPIRY_BATCH},
        )
        return [int(r.id) for r in rows]

    expired = 0
    after = 0
    while True:
        ids = await transaction(engine, batch)
        if not ids:
            return expired
        for eid in ids:

            async def one(conn: AsyncConnection, eid: int = eid) -> bool:
                return await _close(
                    conn, eid, (Status.REQUESTED,), Status.EXPIRED, "system:housekeeping", None, decided=False
                )

            expired += await transaction(engine, one)
        after = ids[-1]


def completion_due(ends_on: date) -> date:
    """The day a group's unreported months stop waiting: the reporting window of its last month
    (to the end of the following month) has closed."""
    return add_months(month_start(ends_on), 2)


def completes(status: str, ends_on: date, months: int, reported: int, today: date) -> bool:
    """Whether housekeeping closes a live enrollment of a group that has ended."""
    if ends_on >= today:
        return False
    return status == Status.REQUESTED or reported >= months or today >= completion_due(ends_on)


async def complete_finished_groups(engine: AsyncEngine, today: date) -> int:
    """Groups past their end date: ACTIVE contracts become COMPLETED, what is left reserved returns.

    A contract completes once every month is reported, or when the reporting window of the
    group's last month has closed (``completion_due``); unanswered applications of an ended
    group expire. Returns how many enrollments were closed. One transaction per enrollment.
    """

    async def candidates(conn: AsyncConnection) -> list[tuple[int, Status]]:
        rows = await conn.execute(
            text(
                "SELECT e.id, e.status, e.months, g.ends_on,"
                " (SELECT count(*) FROM provision_reports r WHERE r.enrollment_id = e.id) AS reported"
                " FROM enrollments e JOIN groups g ON g.id = e.group_id"
                " WHERE g.ends_on < :today AND e.status IN ('REQUESTED', 'ACTIVE') ORDER BY e.group_id, e.id"
            ),
            {"today": today},
        )
        return [
            (int(r.id), Status(r.status))
            for r in rows
            if completes(r.status, r.ends_on, int(r.months), int(r.reported), today)
        ]

    closed = 0
    for eid, status in await transaction(engine, candidates):
        target = Status.COMPLETED if status is Status.ACTIVE else Status.EXPIRED

        async def one(conn: AsyncConnection, eid: int = eid, status: Status = status, target: Status = target) -> bool:
            return await _close(conn, eid, (status,), target, "system:housekeeping", None, decided=False)

        closed += await transaction(engine, one)
    return closed


# --- monthly provision ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProvisionLine:
    enrollment_id: int | None  # None: the client sent an id that is not an enrollment's
    completeness: int


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    charged: int
    released: int
    contracts: int


async def report_provision(
    conn: AsyncConnection,
    principal: Principal,
    provider_id: int | None,
    month: date,
    lines: Sequence[ProvisionLine],
    today: date,
) -> ProvisionResult:
    """The provider reports a month's completeness per contract; all lines or none.

    Each line charges round(share × completeness / 100) of that month's certificate share out
    of the reserve and releases the rest of the share. Refused per line: unknown or foreign
    enrollment (NOT_FOUND), not ACTIVE (INVALID_TRANSITION), a month outside the contract or
    not begun yet (INVALID), a month already reported (DUPLICATE).
    """
    subject = require_provider(principal, provider_id)
    month = month_start(month)
    if not lines:
        raise DomainError.of(ErrorCode.INVALID, "provision_empty", ["input", "items"])
    if len(lines) > MAX_REPORT_ITEMS:
        raise DomainError.of(ErrorCode.LIMIT_EXCEEDED, "provision_too_many", ["input", "items"], max=MAX_REPORT_ITEMS)
    problems: list[Problem] = []
    seen: set[int] = set()
    for i, line in enumerate(lines):
        path = ["input", "items", str(i)]
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
    ids = sorted(seen)
    periods_of = await conn.execute(
        text("SELECT DISTINCT period_id FROM enrollments WHERE id = ANY(:ids)"), {"ids": ids}
    )
    await lock_shared(conn, [int(r.period_id) for r in periods_of])
    rows = await conn.execute(
        text(
            _ENROLLMENT_COLUMNS + ", EXISTS (SELECT 1 FROM provision_reports r WHERE r.enrollment_id = e.id"
            " AND r.month = :month) AS reported" + _ENROLLMENT_FROM + " WHERE e.id = ANY(:ids)"
            " ORDER BY e.id FOR NO KEY UPDATE OF e"
        ),
        {"ids": ids, "month": month},
    )
    by_id = {int(r.id): r for r in rows}
    plan: list[tuple[Row[Any], int, int, int, int]] = []  # row, completeness, share, charged, released
    for i, line in enumerate(lines):
        assert line.enrollment_id is not None
        path = ["input", "items", str(i), "enrollmentId"]
        e = by_id.get(line.enrollment_id)
        if e is None or e.provider_id != provider_id:
            problems.append(Problem(ErrorCode.NOT_FOUND, "not_found", path))
            continue
        if e.status != Status.ACTIVE:
            problems.append(Problem(ErrorCode.INVALID_TRANSITION, "enrollment_transition", path, status=e.status))
            continue
        index = month_index(e.first_month, e.months, month)
        if index is None:
            last = add_months(e.first_month, e.months - 1)
            problems.append(
                Problem(
                    ErrorCode.INVALID,
                    "provision_outside",
                    path,
                    first=e.first_month.strftime("%m.%Y"),
                    last=last.strftime("%m.%Y"),
                )
            )
            continue
        if month > month_start(today):
            problems.append(Problem(ErrorCode.INVALID, "provision_not_begun", path))
            continue
        if e.reported:
            problems.append(Problem(ErrorCode.DUPLICATE, "provision_already", path, month=month.strftime("%m.%Y")))
            continue
        share = certificate_share(int(e.from_certificate), int(e.months), index)
        charged, released = provision_amounts(share, line.completeness)
        plan.append((e, line.completeness, share, charged, released))
    if problems:
        raise DomainError(*problems)
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
            "by": subject,
            "e": [int(p[0].id) for p in plan],
            "c": [p[1] for p in plan],
            "s": [p[2] for p in plan],
            "ch": [p[3] for p in plan],
            "r": [p[4] for p in plan],
        },
    )
    if len(inserted.all()) != len(plan):  # cannot happen under the row locks; the key defends it
        raise DomainError.of(
            ErrorCode.DUPLICATE, "provision_already", ["input", "items"], month=month.strftime("%m.%Y")
        )
    await conn.execute(
        text(
            "UPDATE enrollments e SET reserved = e.reserved - t.s, charged = e.charged + t.ch"
            " FROM unnest(CAST(:e AS bigint[]), CAST(:s AS bigint[]), CAST(:ch AS bigint[])) AS t(id, s, ch)"
            " WHERE e.id = t.id"
        ),
        {"e": [int(p[0].id) for p in plan], "s": [p[2] for p in plan], "ch": [p[3] for p in plan]},
    )
    label = month.strftime("%m.%Y")
    actor = f"provider:{subject}"
    for e, completeness, _share, charged, released in sorted(plan, key=lambda p: (p[0].certificate_id, p[0].id)):
        for kind, amount, description in (
            (ledger.Kind.CHARGE, charged, f"Оплата услуги за {label}, полнота оказания {completeness}%"),
            (ledger.Kind.RELEASE, released, f"Возврат неоказанной части услуги за {label} (полнота {completeness}%)"),
        ):
            if amount > 0:
                entry = ledger.Entry(
                    kind=kind,
                    certificate_id=int(e.certificate_id),
                    period_id=int(e.period_id),
                    amount=amount,
                    description=f"{description}: {format_amount(amount)} ₽",
                    actor=actor,
                    enrollment_id=int(e.id),
                    month=month,
                    completeness=completeness,
                )
                await (ledger.release(conn, entry) if kind is ledger.Kind.RELEASE else ledger.post(conn, entry))
    return ProvisionResult(charged=sum(p[3] for p in plan), released=sum(p[4] for p in plan), contracts=len(plan))


# --- settlement ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settlement:
    provider_id: int
    month: date
    charged: int
    released: int
    contracts: int


async def settlement(
    conn: AsyncConnection, principal: Principal, provider_id: int, month: date, own_provider_id: int | None
) -> Settlement:
    """What certificates paid a provider for a month: the operator of the provider's municipality
    (or the provider itself)."""
    row = (await conn.execute(text("SELECT id, municipality FROM providers WHERE id = :p"), {"p": provider_id})).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", ["providerId"])
    allowed = (principal.role is Role.OPERATOR and principal.municipality == row.municipality) or (
        principal.role is Role.PROVIDER and own_provider_id == provider_id
    )
    if not allowed:
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


async def municipality_settlements(conn: AsyncConnection, principal: Principal, month: date) -> list[Settlement]:
    """Every provider of the operator's municipality with reports for the month."""
    require_role(principal, Role.OPERATOR)
    month = month_start(month)
    rows = await conn.execute(
        text(
            "SELECT r.provider_id, coalesce(sum(r.charged), 0) AS charged, coalesce(sum(r.released), 0) AS released,"
            " count(*) AS contracts FROM provision_reports r JOIN providers pr ON pr.id = r.provider_id"
            " WHERE pr.municipality = :m AND r.month = :month GROUP BY r.provider_id ORDER BY r.provider_id"
        ),
        {"m": principal.municipality, "month": month},
    )
    return [Settlement(int(r.provider_id), month, int(r.charged), int(r.released), int(r.contracts)) for r in rows]


# --- reviews -------------------------------------------------------------------------------------


def may_review(status: str, decided_at: datetime | None) -> bool:
    """The contract is or was active: ACTIVE, COMPLETED, or TERMINATED after acceptance."""
    return status in (Status.ACTIVE, Status.COMPLETED) or (status == Status.TERMINATED and decided_at is not None)


async def review(
    conn: AsyncConnection, principal: Principal, enrollment_id: int, rating: int, body: str | None
) -> tuple[int, int]:
    """The guardian rates the program of a contract once (1..5); returns (review id, program id)."""
    subject = require_guardian(principal)
    problems: list[Problem] = []
    if not 1 <= rating <= 5:
        problems.append(Problem(ErrorCode.INVALID, "review_rating", ["input", "rating"]))
    cleaned = body.strip() if body is not None else None
    if cleaned is not None and len(cleaned) > MAX_REVIEW_LENGTH:
        problems.append(Problem(ErrorCode.INVALID, "text_length", ["input", "text"], min=0, max=MAX_REVIEW_LENGTH))
    if problems:
        raise DomainError(*problems)
    e = await _enrollment(conn, enrollment_id)
    if e.guardian_subject != subject:
        raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden", ENROLLMENT_FIELD)
    if not may_review(e.status, e.decided_at):
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "review_not_eligible", ENROLLMENT_FIELD)
    review_id = (
        await conn.execute(
            text(
                "INSERT INTO reviews (enrollment_id, program_id, guardian_id, rating, text)"
                " SELECT e.id, :program, e.guardian_id, :rating, :text FROM enrollments e WHERE e.id = :id"
                " ON CONFLICT (enrollment_id) DO NOTHING RETURNING id"
            ),
            {"id": enrollment_id, "program": e.program_id, "rating": rating, "text": cleaned or None},
        )
    ).scalar()
    if review_id is None:
        raise DomainError.of(ErrorCode.DUPLICATE, "review_duplicate", ENROLLMENT_FIELD)
    await conn.execute(
        text("UPDATE programs SET rating_sum = rating_sum + :r, rating_count = rating_count + 1 WHERE id = :p"),
        {"r": rating, "p": e.program_id},
    )
    return int(review_id), int(e.program_id)
