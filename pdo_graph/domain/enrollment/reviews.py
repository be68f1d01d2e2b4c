"""Reviews: the guardian rates the program of a contract that is or was active, once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.access import Actor, require_guardian, require_guardian_of
from pdo_graph.domain.enrollment.lifecycle import ENROLLMENT, Status, load_enrollment
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem

MAX_REVIEW_LENGTH = 2000


def may_review(status: str, decided_at: datetime | None) -> bool:
    """The contract is or was active: ACTIVE, COMPLETED, or TERMINATED after acceptance."""
    return status in (Status.ACTIVE, Status.COMPLETED) or (status == Status.TERMINATED and decided_at is not None)


async def review(
    conn: AsyncConnection, actor: Actor, enrollment_id: int, rating: int, body: str | None
) -> tuple[int, int]:
    """The guardian rates the program of a contract once (1..5); returns (review id, program id)."""
    require_guardian(actor)
    problems: list[Problem] = []
    if not 1 <= rating <= 5:
        problems.append(Problem(ErrorCode.INVALID, "review_rating", ["rating"]))
    cleaned = body.strip() if body is not None else None
    if cleaned is not None and len(cleaned) > MAX_REVIEW_LENGTH:
        problems.append(Problem(ErrorCode.INVALID, "text_length", ["text"], min=0, max=MAX_REVIEW_LENGTH))
    if problems:
        raise DomainError(*problems)
    e = await load_enrollment(conn, enrollment_id)
    require_guardian_of(actor, e.guardian_subject, ENROLLMENT)
    if not may_review(e.status, e.decided_at):
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "review_not_eligible", ENROLLMENT)
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
        raise DomainError.of(ErrorCode.DUPLICATE, "review_duplicate", ENROLLMENT)
    await conn.execute(
        text("UPDATE programs SET rating_sum = rating_sum + :r, rating_count = rating_count + 1 WHERE id = :p"),
        {"r": rating, "p": e.program_id},
    )
    return int(review_id), e.program_id
