"""Reads of notifications: one by id, and a guardian's newest ones after a given id."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pdo_graph.reads.base import Key, Scope, one_by_key


class NotificationRow(Protocol):
    id: int
    kind: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None
    guardian_subject: str


NOTIFICATION_SQL = (
    "SELECT n.id, n.kind, n.title, n.body, n.created_at, n.read_at, g.subject AS guardian_subject"
    " FROM notifications n JOIN guardians g ON g.id = n.guardian_id"
)

NOTIFICATION: Key[int, NotificationRow | None] = one_by_key(
    "notification", NOTIFICATION_SQL + " WHERE n.id = ANY(:keys)", NotificationRow
)

ADDED_AT_MOST = 100  # one delivery passes on at most this many new notifications (the rest: the next)


async def newest_notification_id(scope: Scope, subject: str) -> int:
    """The id of the guardian's newest notification (0 when there is none)."""
    rows = await scope.fetch(
        "SELECT coalesce(max(n.id), 0) AS id FROM notifications n JOIN guardians g ON g.id = n.guardian_id"
        " WHERE g.subject = :s",
        {"s": subject},
    )
    return int(rows[0].id)


async def notifications_after(scope: Scope, subject: str, after_id: int) -> list[NotificationRow]:
    """The guardian's notifications added after ``after_id``, oldest first (at most ``ADDED_AT_MOST``)."""
    return await scope.rows(
        NOTIFICATION_SQL + " WHERE g.subject = :s AND n.id > :after ORDER BY n.id LIMIT :n",
        {"s": subject, "after": after_id, "n": ADDED_AT_MOST},
    )
