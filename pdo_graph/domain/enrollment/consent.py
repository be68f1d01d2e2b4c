"""Family consent: the one rule that compares the family's share with the figure the family saw.

``require_family_share`` is the only place that decides QUOTE_CHANGED: the guardian's consent to a
prolonged contract (``enrollmentConsent``) calls it, and so does anything else that takes the
family's confirmed co-pay (``expectedFromFamily`` of ``enrollmentCreate`` and the plan mutations,
issue 13): recompute the terms, then call this before reserving anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.access import Actor, require_guardian_of
from pdo_graph.domain.enrollment.lifecycle import ENROLLMENT, Status, load_enrollment, transition_error
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.domain.money import format_amount
from pdo_graph.domain.periods import lock_shared

EXPECTED = ["expectedFromFamily"]


def require_family_share(
    expected_from_family: int | None,
    price: int,
    from_certificate: int,
    from_family: int,
    field: Sequence[str] = EXPECTED,
) -> None:
    """Refuse with QUOTE_CHANGED when the family's share (``from_family``, kopecks, recomputed by the
    caller under its locks) differs from the one the family confirmed (``expected_from_family``);
    the message carries the new figures (price, certificate part, family part). ``None``: the family
    confirmed nothing, nothing to compare."""
    if expected_from_family is None or expected_from_family == from_family:
        return
    raise DomainError.of(
        ErrorCode.QUOTE_CHANGED,
        "quote_changed",
        field,
        price=format_amount(price),
        from_certificate=format_amount(from_certificate),
        from_family=format_amount(from_family),
        figures=(price, from_certificate, from_family),  # kopecks, for the machine-readable answer
    )


async def consent(conn: AsyncConnection, actor: Actor, enrollment_id: int, expected_from_family: int) -> int:
    """The guardian consents to a prolonged contract whose family share changed: AWAITING_CONSENT ->
    ACTIVE when ``expected_from_family`` is the contract's family share (else QUOTE_CHANGED with the
    figures). Its reserve and seat were taken when it was prolonged."""
    e = await load_enrollment(conn, enrollment_id)
    require_guardian_of(actor, e.guardian_subject, ENROLLMENT)
    gate = await lock_shared(conn, [e.period_id])
    e = await load_enrollment(conn, enrollment_id, lock=True)
    if e.status is not Status.AWAITING_CONSENT:
        if e.status is Status.ACTIVE:
            return enrollment_id  # consented before: a retry
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "consent_not_awaited", ENROLLMENT, status=e.status.value)
    if gate[e.period_id].closed:  # cannot happen: a close ends AWAITING_CONSENT contracts
        raise transition_error(e.status)
    figures = (
        await conn.execute(text("SELECT price, from_family FROM enrollments WHERE id = :id"), {"id": enrollment_id})
    ).one()
    require_family_share(expected_from_family, int(figures.price), e.from_certificate, int(figures.from_family))
    await conn.execute(
        text("UPDATE enrollments SET status = 'ACTIVE', decided_at = now() WHERE id = :id"), {"id": enrollment_id}
    )
    return enrollment_id


def share_changed(old_from_family: int, old_months: int, new_from_family: int, new_months: int) -> bool:
    """Whether a prolongation changes what the family pays a month (compared exactly, as fractions)."""
    return old_from_family * new_months != new_from_family * old_months
