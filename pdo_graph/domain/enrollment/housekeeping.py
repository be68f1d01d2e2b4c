"""Housekeeping: unanswered applications expire; contracts of ended groups complete.

Both run outside any request (the server's loop every few minutes, ``pdo-graph housekeeping``), one
short transaction per enrollment, safe from many processes at once: each re-checks the status under
its locks in :func:`~pdo_graph.domain.enrollment.lifecycle.close`.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.db.session import transaction
from pdo_graph.domain.enrollment.lifecycle import Status, close
from pdo_graph.domain.money import add_months, month_start

EXPIRY_BATCH = 500
SYSTEM = "system:housekeeping"


async def expire_stale_applications(engine: AsyncEngine, expiry_days: int, now: datetime | None = None) -> int:
    """Applications unanswered for ``expiry_days`` become EXPIRED (reserve released, seat freed).

    Returns how many expired. The CLI's ``pdo-graph enrollments expire`` and the server's
    housekeeping loop call this.
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
                return await close(conn, eid, (Status.REQUESTED,), Status.EXPIRED, SYSTEM, None, decided=False)

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
            return await close(conn, eid, (status,), target, SYSTEM, None, decided=False)

        closed += await transaction(engine, one)
    return closed
