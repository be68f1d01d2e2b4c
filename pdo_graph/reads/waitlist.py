"""Reads of the fair opening and the waitlist: a group's opening and queue, waitlist entries."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pdo_graph.reads.base import Key, many_by_key, one_by_key


class OpeningRow(Protocol):
    id: int  # the group's
    enrollment_opens_at: datetime | None
    window_ends_at: datetime | None
    seed_hash: str | None
    seed: str | None  # only once drawn
    drawn_at: datetime | None
    waiting: int


class EntryRow(Protocol):
    id: int
    group_id: int
    certificate_id: int
    enrollment_id: int | None
    state: str
    position: int | None
    offer_expires_at: datetime | None
    created_at: datetime
    guardian_subject: str
    municipality: str


OPENING_SQL = (
    "SELECT g.id, g.enrollment_opens_at, d.window_ends_at, d.seed_hash,"
    " CASE WHEN d.drawn_at IS NOT NULL THEN d.seed END AS seed, d.drawn_at,"
    " (SELECT count(*) FROM waitlist_entries w WHERE w.group_id = g.id AND w.state = 'WAITING') AS waiting"
    " FROM groups g LEFT JOIN group_draws d ON d.group_id = g.id WHERE g.id = ANY(:keys)"
)
ENTRY_SQL = (
    "SELECT w.id, w.group_id, w.certificate_id, w.enrollment_id, w.state, w.offer_expires_at, w.created_at,"
    " CASE WHEN w.state = 'WAITING' THEN (SELECT count(*) + 1 FROM waitlist_entries o WHERE o.group_id = w.group_id"
    " AND o.state = 'WAITING' AND o.queue_no < w.queue_no) END AS position,"
    " gu.subject AS guardian_subject, c.municipality"
    " FROM waitlist_entries w JOIN guardians gu ON gu.id = w.guardian_id JOIN certificates c ON c.id = w.certificate_id"
)

GROUP_OPENING: Key[int, OpeningRow | None] = one_by_key("group_opening", OPENING_SQL, OpeningRow)
WAITLIST_ENTRY: Key[int, EntryRow | None] = one_by_key(
    "waitlist_entry", ENTRY_SQL + " WHERE w.id = ANY(:keys)", EntryRow
)
WAITLIST_OF_CERTIFICATE: Key[int, list[EntryRow]] = many_by_key(
    "waitlist_of_certificate",
    ENTRY_SQL
    + " WHERE w.certificate_id = ANY(:keys) AND w.state IN ('WAITING', 'OFFERED') ORDER BY w.certificate_id, w.id",
    EntryRow,
    key="certificate_id",
)
