"""Reads of notifications: one by id, a guardian's newest ones after a given id (live), and the
viewer's inbox (a guardian's own, or a provider organisation's) with its unread count."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pdo_graph.reads.base import Key, Scope, one_by_key


class NotificationRow(Protocol):
    id: int
    kind: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None
    guardian_subject: str | None  # the recipient: a guardian ...
    provider_id: int | None  # ... or a provider organisation
    data: dict[str, Any]


NOTIFICATION_SQL = (
    "SELECT n.id, n.kind, n.title, n.body, n.created_at, n.read_at, g.subject AS guardian_subject, n.provider_id,"
    " n.data FROM notifications n LEFT JOIN guardians g ON g.id = n.guardian_id"
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


def _inbox(guardian_subject: str | None, provider_id: int | None) -> tuple[str, dict[str, Any]]:
    if guardian_subject is not None:
        return "n.guardian_id = (SELECT id FROM guardians WHERE subject = :who)", {"who": guardian_subject}
    return "n.provider_id = :who", {"who": provider_id}


async def inbox(
    scope: Scope,
    guardian_subject: str | None,
    provider_id: int | None,
    first: int,
    before_id: int | None,
    unread_only: bool,
) -> list[NotificationRow]:
    """The recipient's notifications, newest first, up to first + 1 (the extra one says more follow)."""
    own, params = _inbox(guardian_subject, provider_id)
    return await scope.rows(
        NOTIFICATION_SQL + f" WHERE {own} AND (CAST(:before AS bigint) IS NULL OR n.id < :before)"
        " AND (NOT :unread OR n.read_at IS NULL) ORDER BY n.id DESC LIMIT :n",
        {**params, "before": before_id, "unread": unread_only, "n": first + 1},
    )


async def inbox_counts(scope: Scope, guardian_subject: str | None, provider_id: int | None) -> tuple[int, int]:
    """(all, unread) notifications of the recipient."""
    own, params = _inbox(guardian_subject, provider_id)
    rows = await scope.fetch(
        f"SELECT count(*) AS total, count(*) FILTER (WHERE n.read_at IS NULL) AS unread FROM notifications n WHERE {own}",
        params,
    )
    return int(rows[0].total), int(rows[0].unread)
