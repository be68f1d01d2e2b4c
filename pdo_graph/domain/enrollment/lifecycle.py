"""The contract's life: accept, refuse, cancel, and ending contracts in bulk (a period's close, a
revocation). Every path that ends an enrollment goes through :func:`close`: seat freed, the
remaining reserve released, under the locks in the package's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain import ledger, notifications
from pdo_graph.domain.access import (
    Actor,
    can_act_for_family,
    can_act_for_provider,
    require_provider,
    require_provider_of,
)
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.domain.money import format_amount
from pdo_graph.domain.periods import lock_shared

MAX_REASON_LENGTH = 1000
PERIOD_ENDED = "Период финансирования закрыт"

# Field names of the enrollment area's problems (resolvers put them under their argument).
CERTIFICATE = ["certificateId"]
GROUP = ["groupId"]
ENROLLMENT = ["enrollmentId"]


class Status(StrEnum):
    AWAITING_CONSENT = "AWAITING_CONSENT"
    REQUESTED = "REQUESTED"
    ACTIVE = "ACTIVE"
    REFUSED = "REFUSED"
    EXPIRED = "EXPIRED"
    TERMINATED = "TERMINATED"
    COMPLETED = "COMPLETED"


LIVE = (Status.REQUESTED, Status.ACTIVE, Status.AWAITING_CONSENT)
LIVE_SQL = "('REQUESTED', 'ACTIVE', 'AWAITING_CONSENT')"  # the same, for SQL


@dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    """An enrollment with who it belongs to: its guardian and the provider of its group."""

    id: int
    status: Status
    group_id: int
    certificate_id: int
    period_id: int
    reserved: int
    charged: int
    from_certificate: int
    first_month: date
    months: int
    created_at: datetime
    decided_at: datetime | None
    guardian_subject: str
    provider_id: int
    program_id: int

    @classmethod
    def of(cls, row: Row[Any]) -> EnrollmentRecord:
        values = {name: getattr(row, name) for name in _COLUMNS}
        values["status"] = Status(values["status"])
        return cls(**values)


_COLUMNS = tuple(f.name for f in fields(EnrollmentRecord))
RECORD_SELECT = (
    "SELECT e.id, e.status, e.group_id, e.certificate_id, e.period_id, e.reserved, e.charged, e.from_certificate,"
    " e.first_month, e.months, e.created_at, e.decided_at, gu.subject AS guardian_subject, pg.provider_id,"
    " pg.id AS program_id"
)
RECORD_FROM = (
    " FROM enrollments e JOIN guardians gu ON gu.id = e.guardian_id JOIN groups g ON g.id = e.group_id"
    " JOIN programs pg ON pg.id = g.program_id"
)


async def load_enrollment(conn: AsyncConnection, enrollment_id: int, lock: bool = False) -> EnrollmentRecord:
    """The enrollment (``lock``: ``FOR NO KEY UPDATE`` of its row), or NOT_FOUND."""
    suffix = " FOR NO KEY UPDATE OF e" if lock else ""
    sql = RECORD_SELECT + RECORD_FROM + " WHERE e.id = :id" + suffix
    row = (await conn.execute(text(sql), {"id": enrollment_id})).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", ENROLLMENT)
    return EnrollmentRecord.of(row)


def clean_reason(reason: str | None) -> str | None:
    if reason is None or not reason.strip():
        return None
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON_LENGTH:
        raise DomainError.of(ErrorCode.INVALID, "text_length", ["reason"], min=0, max=MAX_REASON_LENGTH)
    return reason


def transition_error(status: str) -> DomainError:
    return DomainError.of(ErrorCode.INVALID_TRANSITION, "enrollment_transition", ENROLLMENT, status=status)


async def release_seat(conn: AsyncConnection, group_id: int) -> None:
    await conn.execute(text("UPDATE groups SET seats_taken = seats_taken - 1 WHERE id = :g"), {"g": group_id})


_RELEASE_TEXT = {
    Status.REFUSED: "Возврат резерва: поставщик отказал в зачислении",
    Status.EXPIRED: "Возврат резерва: заявка не рассмотрена в срок",
    Status.TERMINATED: "Возврат резерва: договор расторгнут",
    Status.COMPLETED: "Возврат неизрасходованного резерва: обучение в группе завершено",
}


# the endings of an application the family is told of (a contract's ending is the family's or the provider's
# own act, or the period's end that every family is told of by FUNDS_EXPIRING beforehand)
_TOLD = {Status.REFUSED: notifications.Kind.ENROLLMENT_REFUSED, Status.EXPIRED: notifications.Kind.ENROLLMENT_EXPIRED}


async def close(
    conn: AsyncConnection,
    enrollment_id: int,
    allowed: tuple[Status, ...],
    target: Status,
    actor: str,
    reason: str | None,
    decided: bool,
    release_text: str | None = None,
    by_period: bool = False,
) -> bool:
    """Move a live enrollment to a final status: seat freed, the remaining reserve released, the time
    it ended kept (``ended_at``). Every end of an application or a contract comes here.

    Locks the period (shared), the group, then the enrollment, then (through the ledger) the
    balance. Returns False when the enrollment is no longer in one of ``allowed`` statuses
    (callers decide whether that is an error).
    """
    where = (
        await conn.execute(text("SELECT group_id, period_id FROM enrollments WHERE id = :id"), {"id": enrollment_id})
    ).one()
    await lock_shared(conn, [int(where.period_id)])
    await conn.execute(text("SELECT 1 FROM groups WHERE id = :g FOR NO KEY UPDATE"), {"g": where.group_id})
    e = await load_enrollment(conn, enrollment_id, lock=True)
    if e.status not in allowed:
        return False
    await conn.execute(
        text(
            "UPDATE enrollments SET status = :s, reserved = 0, reason = coalesce(:r, reason), ended_at = now(),"
            " decided_at = CASE WHEN :decided THEN now() ELSE decided_at END, ended_by_period = :bp WHERE id = :id"
        ),
        {"s": target.value, "r": reason, "decided": decided, "id": enrollment_id, "bp": by_period},
    )
    await release_seat(conn, where.group_id)
    if e.reserved > 0:
        await ledger.release(
            conn,
            ledger.Entry(
                kind=ledger.Kind.RELEASE,
                certificate_id=e.certificate_id,
                period_id=e.period_id,
                amount=e.reserved,
                description=f"{release_text or _RELEASE_TEXT[target]}: {format_amount(e.reserved)} ₽",
                actor=actor,
                enrollment_id=enrollment_id,
            ),
        )
    told = _TOLD.get(target)
    if told is not None and e.status == Status.REQUESTED:
        await notifications.enrollment_ended(conn, enrollment_id, told, e.reserved)
    return True


async def end_contracts(
    conn: AsyncConnection,
    of: Literal["period_id", "certificate_id"],
    owner_id: int,
    targets: Mapping[Status, Status],
    actor: str,
    reason: str,
    release_text: str,
    by_period: bool = False,
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
                f" WHERE {of} = :owner AND status IN {LIVE_SQL}"
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
            ended += await close(
                conn,
                int(r.id),
                (status,),
                target,
                actor,
                reason,
                False,
                release_text,
                by_period and target is Status.COMPLETED,
            )
    return ended


async def end_period_contracts(conn: AsyncConnection, period_id: int, actor: str) -> int:
    """At a period's close its contracts end: ACTIVE -> COMPLETED (marked ``ended_by_period``: it may
    be prolonged), REQUESTED and AWAITING_CONSENT -> EXPIRED (domain.md, "Contracts never outlive
    their period"). The caller holds the period exclusively."""
    return await end_contracts(
        conn,
        "period_id",
        period_id,
        {Status.REQUESTED: Status.EXPIRED, Status.AWAITING_CONSENT: Status.EXPIRED, Status.ACTIVE: Status.COMPLETED},
        actor,
        reason=PERIOD_ENDED,
        release_text="Возврат резерва: период финансирования закрыт",
        by_period=True,
    )


async def end_certificate_contracts(conn: AsyncConnection, certificate_id: int, actor: str, reason: str) -> int:
    """A revoked certificate's applications and contracts end (TERMINATED), reserves released."""
    return await end_contracts(
        conn,
        "certificate_id",
        certificate_id,
        {
            Status.REQUESTED: Status.TERMINATED,
            Status.ACTIVE: Status.TERMINATED,
            Status.AWAITING_CONSENT: Status.TERMINATED,
        },
        actor,
        reason=reason,
        release_text="Возврат резерва: сертификат отозван",
    )


def stale(created_at: datetime, now: datetime, expiry_days: int) -> bool:
    return created_at < now - timedelta(days=expiry_days)


async def accept(
    conn: AsyncConnection, actor: Actor, enrollment_id: int, expiry_days: int, now: datetime | None = None
) -> int:
    """The provider of the group concludes the contract: REQUESTED -> ACTIVE."""
    require_provider(actor)
    e = await load_enrollment(conn, enrollment_id, lock=True)
    require_provider_of(actor, e.provider_id, ENROLLMENT)
    if e.status != Status.REQUESTED:
        raise transition_error(e.status)
    current = now or (await conn.execute(text("SELECT now()"))).scalar_one()
    if stale(e.created_at, current, expiry_days):
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "enrollment_stale", ENROLLMENT, days=expiry_days)
    await conn.execute(
        text("UPDATE enrollments SET status = 'ACTIVE', decided_at = now() WHERE id = :id"), {"id": enrollment_id}
    )
    await notifications.enrollment_accepted(conn, enrollment_id)
    return enrollment_id


async def refuse(conn: AsyncConnection, actor: Actor, enrollment_id: int, reason: str | None) -> int:
    """The provider refuses an application: REFUSED, reserve released, seat freed, reason kept."""
    require_provider(actor)
    reason = clean_reason(reason)
    e = await load_enrollment(conn, enrollment_id)
    require_provider_of(actor, e.provider_id, ENROLLMENT)
    if not await close(conn, enrollment_id, (Status.REQUESTED,), Status.REFUSED, actor.label, reason, decided=True):
        raise transition_error((await load_enrollment(conn, enrollment_id)).status)
    return enrollment_id


async def cancel(conn: AsyncConnection, actor: Actor, enrollment_id: int, reason: str | None) -> int:
    """Terminate (расторжение) by the guardian or the provider.

    Months already charged stay charged; the whole remaining reserve returns to available at
    once; the seat is freed. The guardian may also withdraw an unanswered application (it
    becomes TERMINATED with no decision date); the provider refuses those instead.
    """
    reason = clean_reason(reason)
    e = await load_enrollment(conn, enrollment_id)
    if can_act_for_family(actor, e.guardian_subject):
        allowed: tuple[Status, ...] = LIVE
    elif can_act_for_provider(actor, e.provider_id):
        allowed = (Status.ACTIVE,)
    else:
        raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden", ENROLLMENT)
    if not await close(conn, enrollment_id, allowed, Status.TERMINATED, actor.label, reason, decided=False):
        status = (await load_enrollment(conn, enrollment_id)).status
        if status == Status.REQUESTED:
            raise DomainError.of(ErrorCode.INVALID_TRANSITION, "enrollment_provider_cancel_requested", ENROLLMENT)
        raise transition_error(status)
    return enrollment_id
