"""Quote and apply: the guardian (or the operator) sees the terms; the guardian applies, and the
rule runs again under the locks before the seat, the reserve and the enrollment are written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain import ledger, notifications
from pdo_graph.domain.access import Actor, can_read_family, require_guardian, require_guardian_of
from pdo_graph.domain.enrollment import draw
from pdo_graph.domain.enrollment.consent import require_family_share
from pdo_graph.domain.enrollment.eligibility import Facts, Fetch, assess, load_facts, read_facts
from pdo_graph.domain.enrollment.lifecycle import CERTIFICATE, GROUP, release_seat
from pdo_graph.domain.enrollment.terms import Terms, request_hash
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.money import format_amount
from pdo_graph.domain.periods import lock_shared

MAX_KEY_LENGTH = 200
DEFAULT_EXPIRY_DAYS = 5  # settings.enrollment_expiry_days (domain.md: unanswered applications expire after 5 days)
KEY = ["idempotencyKey"]


@dataclass(frozen=True, slots=True)
class Quote:
    terms: Terms | None  # None when the caller may not see it or an input is unknown
    problems: list[Problem]


async def quote(conn: AsyncConnection, actor: Actor, certificate_id: int, group_id: int, today: date) -> Quote:
    """The guardian of the certificate or the operator of its municipality; others get FORBIDDEN."""
    try:
        facts = await load_facts(conn, certificate_id, group_id, today)
    except DomainError as exc:
        return Quote(None, exc.problems)
    if not can_read_family(actor, facts.guardian_subject, facts.municipality):
        return Quote(None, [Problem(ErrorCode.FORBIDDEN, "forbidden", CERTIFICATE)])
    terms, problems = assess(facts, today)
    return Quote(terms, problems + await draw.quote_problems(conn, group_id))


def _validate_key(key: str) -> str:
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise DomainError.of(ErrorCode.INVALID, "text_length", KEY, min=1, max=MAX_KEY_LENGTH)
    return key


def _replay(enrollment_id: int, stored_hash: str | None, wanted_hash: str) -> int:
    if stored_hash != wanted_hash:
        raise DomainError.of(ErrorCode.IDEMPOTENCY_KEY_REUSED, "enrollment_key_reused", KEY)
    return enrollment_id


SeatTaker = Callable[[AsyncConnection], Awaitable[bool]]
Write = Callable[[Callable[[AsyncConnection], Awaitable[int]]], Awaitable[int]]
"""Runs a unit of work in one write transaction and returns its result (``RequestDb.write``)."""


async def apply_for(
    fetch: Fetch,
    write: Write,
    actor: Actor,
    certificate_id: int,
    group_id: int,
    key: str,
    today: date,
    expiry_days: int = DEFAULT_EXPIRY_DAYS,
    expected_from_family: int | None = None,
) -> int:
    """``create`` for a request: the facts are read and the rule applied first through ``fetch`` (one
    statement outside any transaction, on the read pool), so that a refusal (a full group in the
    rush, a closed one, an age) or the replay of an accepted key costs no write transaction and no
    write connection; only what passes goes to ``write``, where ``create`` takes the locks and
    redoes the rule under them (the seat, the period, the certificate and the balance are decided
    there, never on this read).

    A read outside the transaction is as good as the plain read that began it: under READ COMMITTED
    each statement sees the rows committed when it starts, and the refusal is true of that moment.
    """
    require_guardian(actor)
    key = _validate_key(key)
    facts = await read_facts(fetch, certificate_id, group_id, today, key)
    replayed = _check(actor, facts, request_hash(certificate_id, group_id), today, holding=False)
    if replayed is not None:
        return replayed
    opening = _opening(facts)
    if opening.phase is draw.Phase.NOT_YET:  # before a fair opening: refused without a write
        raise DomainError(draw.not_open_problem(opening))

    async def work(conn: AsyncConnection) -> int:
        return await create(
            conn, actor, certificate_id, group_id, key, today, expiry_days, expected_from_family, facts=facts
        )

    return await write(work)


def _opening(facts: Facts) -> draw.Opening:
    return draw.Opening(facts.opens_at, facts.window_ends_at, facts.drawn_at, facts.read_at)


def _check(actor: Actor, facts: Facts, wanted_hash: str, today: date, holding: bool) -> int | None:
    """The first look at the facts: the guardian's certificate, the replay of an accepted key (its
    enrollment id), or every refusal of the rule; None when the application may go on."""
    require_guardian_of(actor, facts.guardian_subject, CERTIFICATE)
    if facts.key_enrollment_id is not None:
        return _replay(facts.key_enrollment_id, facts.key_request_hash, wanted_hash)
    _, problems = assess(facts, today, holding_seat=holding)
    if problems:
        raise DomainError(*problems)
    return None


async def take_free_seat(conn: AsyncConnection, group_id: int) -> bool:
    """One guarded update: a free seat of an open group that nobody waits for (the waitlist goes first)."""
    seat = await conn.execute(
        text(
            "UPDATE groups SET seats_taken = seats_taken + 1"
            " WHERE id = :g AND seats_taken < capacity AND enrollment_open AND NOT archived"
            " AND NOT EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.group_id = :g AND w.state = 'WAITING')"
            " RETURNING seats_taken"
        ),
        {"g": group_id},
    )
    return seat.first() is not None


async def create(
    conn: AsyncConnection,
    actor: Actor,
    certificate_id: int,
    group_id: int,
    key: str,
    today: date,
    expiry_days: int = DEFAULT_EXPIRY_DAYS,
    expected_from_family: int | None = None,
    held_seat: SeatTaker | None = None,
    facts: Facts | None = None,
) -> int:
    """A guardian applies for a group with a certificate; returns the enrollment id.

    The split is recomputed here under the locks; the client's quote is never trusted, and when the
    guardian confirmed a family share (``expected_from_family``) that differs from the recomputed
    one, nothing is written (QUOTE_CHANGED with the new figures). A replay of the same key and
    request returns the first enrollment and changes nothing. The provider is told of the new
    application (it expires after ``expiry_days`` unanswered).
    ``held_seat``: the seat is already held for this application (a waitlist offer); it claims it
    (False: the hold is gone) instead of taking a free seat. A group's fair window makes the
    application PENDING_DRAW: money reserved, no seat (module ``draw``).
    """
    holding = held_seat is not None
    require_guardian(actor)
    key = _validate_key(key)
    wanted = request_hash(certificate_id, group_id)
    # 1. idempotency first (the facts carry the key): a retry of an accepted request succeeds
    #    whatever happened since; 2. then the rule on a plain read, so that most refusals (a full
    #    group in the rush) cost no lock
    if facts is None:
        facts = await load_facts(conn, certificate_id, group_id, today, key)
        replayed = _check(actor, facts, wanted, today, holding)
        if replayed is not None:
            return replayed
    # 3. the period and the certificate rows, shared: a close, a revocation or a freeze racing this
    #    application waits for it, or has committed and is seen here (the rule runs again on them)
    facts = await _lock_period_and_certificate(conn, facts)
    _, problems = assess(facts, today, holding_seat=holding)
    if problems:
        raise DomainError(*problems)
    # 4. the seat row: one guarded update (inside a fair window: no seat, the draw decides)
    phase = draw.Phase.FIRST_COME if holding else await draw.admit(conn, group_id, _opening(facts))
    pending = phase is draw.Phase.WINDOW
    if pending:
        seat = True
    elif held_seat is not None:
        seat = await held_seat(conn)
    else:
        seat = await take_free_seat(conn, group_id)
    if not seat:
        # no seat: a twin of this request may have taken the last one, or the group just closed
        facts = await load_facts(conn, certificate_id, group_id, today, key)
        if facts.key_enrollment_id is not None:
            return _replay(facts.key_enrollment_id, facts.key_request_hash, wanted)
        if holding:
            raise DomainError.of(ErrorCode.OFFER_EXPIRED, "waitlist_offer_gone", [])
        _, problems = assess(facts, today)
        raise DomainError(*(problems or [Problem(ErrorCode.GROUP_FULL, "enrollment_group_full", GROUP)]))
    # 5. the balance row, while holding the seat: the split is computed from the locked balance
    #    (a live twin or a reused key is caught by the unique indexes below)
    assert facts.period_id is not None  # assess refuses without a period
    available = (
        await conn.execute(
            text("SELECT available FROM balances WHERE certificate_id = :c AND period_id = :p FOR NO KEY UPDATE"),
            {"c": certificate_id, "p": facts.period_id},
        )
    ).scalar()
    terms, _ = assess(replace(facts, available=int(available or 0)), today, holding_seat=not pending)
    # the family's confirmed share, against the split computed from the locked balance (a refusal
    # rolls the seat back with the transaction)
    require_family_share(expected_from_family, terms.price, terms.from_certificate, terms.from_family)
    # 6. only now the insert that references the locked rows
    status = "PENDING_DRAW" if pending else "REQUESTED"
    inserted = await insert_enrollment(conn, facts, facts.period_id, terms, key, wanted, status)
    if inserted is None:
        # a unique index said no: the key (a twin on another group), or the live application
        again = await load_facts(conn, certificate_id, group_id, today, key)
        if again.key_enrollment_id is not None:
            if not pending:
                await release_seat(conn, group_id)
            return _replay(again.key_enrollment_id, again.key_request_hash, wanted)
        raise DomainError.of(ErrorCode.ALREADY_ENROLLED, "enrollment_already", GROUP)
    if terms.from_certificate > 0:
        await ledger.post(
            conn,
            ledger.Entry(
                kind=ledger.Kind.RESERVE,
                certificate_id=certificate_id,
                period_id=facts.period_id,
                amount=terms.from_certificate,
                description=f"Резерв по заявке на зачисление в группу: {format_amount(terms.from_certificate)} ₽",
                actor=actor.label,
                enrollment_id=inserted.id,
                idempotency_key=key,
            ),
        )
    received = notifications.NewApplication(
        inserted.id,
        inserted.contract_number,
        inserted.created_at,
        facts.provider_id,
        facts.group_name,
        facts.program_title,
    )
    await notifications.application_received(conn, received, expiry_days)
    return inserted.id


@dataclass(frozen=True, slots=True)
class Inserted:
    id: int
    contract_number: str  # given by the database (trigger enrollment_contract_number)
    created_at: datetime


async def insert_enrollment(
    conn: AsyncConnection,
    facts: Facts,
    period_id: int,
    terms: Terms,
    key: str,
    wanted_hash: str,
    status: str,
    prolonged_from: int | None = None,
) -> Inserted | None:
    """The enrollment row with its terms, the whole certificate part reserved (ACTIVE ones decided
    now); None when a unique index refuses it (the idempotency key, a live twin, a prolongation)."""
    row = (
        await conn.execute(
            text(
                "INSERT INTO enrollments (certificate_id, child_id, group_id, period_id, guardian_id, status, price,"
                " from_certificate, from_family, first_month, months, reserved, idempotency_key, request_hash,"
                " prolonged_from, decided_at)"
                " VALUES (:c, :ch, :g, :p, :gu, :s, :price, :fc, :ff, :fm, :m, :fc, :k, :h, :old,"
                " CASE WHEN :active THEN now() END)"
                " ON CONFLICT DO NOTHING RETURNING id, contract_number, created_at"
            ),
            {
                "c": facts.certificate_id,
                "ch": facts.child_id,
                "g": facts.group_id,
                "p": period_id,
                "gu": facts.guardian_id,
                "s": status,
                "active": status == "ACTIVE",
                "price": terms.price,
                "fc": terms.from_certificate,
                "ff": terms.from_family,
                "fm": terms.first_month,
                "m": terms.months,
                "k": key,
                "h": wanted_hash,
                "old": prolonged_from,
            },
        )
    ).first()
    return None if row is None else Inserted(int(row.id), str(row.contract_number), row.created_at)


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
