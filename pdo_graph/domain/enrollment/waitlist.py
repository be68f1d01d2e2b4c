"""The waitlist of a full group (domain.md "Waitlist, fair opening, planning").

A guardian queues a certificate for a full group (``join``): FIFO by ``queue_no``, one live place
per child per group. While anyone waits, a freed seat is not for new applications
(``apply.take_free_seat`` refuses it): the periodic pass (:func:`run_offers`, in ``jobs``) offers
it to the first in line. An offer holds the seat (``groups.seats_taken`` counts it, so there are
never more offers than free seats) until ``offer_expires_at`` (``PDO_WAITLIST_OFFER_HOURS``, 48 by
default) and notifies the family. Accepting (``accept``) turns the held seat into an application
with the usual money checks (``apply.create``); declining, leaving or letting it lapse frees the
seat for the next in line.

States: ``WAITING -> OFFERED -> ACCEPTED | DECLINED | LAPSED``; ``WAITING | OFFERED -> LEFT``.

Locks: the group row (``FOR NO KEY UPDATE``), then entry rows; a transition of an entry is one
guarded ``UPDATE ... WHERE state = ...``, so an accept racing a lapse has one winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.db.session import transaction
from pdo_graph.domain import notifications
from pdo_graph.domain.access import Actor, require_guardian, require_guardian_of
from pdo_graph.domain.enrollment import apply
from pdo_graph.domain.enrollment.eligibility import assess, load_facts
from pdo_graph.domain.enrollment.lifecycle import GROUP
from pdo_graph.domain.enrollment.plan import confirm_family_share
from pdo_graph.domain.errors import DomainError, ErrorCode

DEFAULT_OFFER_HOURS = 48
ENTRY = ["entryId"]
LIVE_STATES = ("WAITING", "OFFERED")


@dataclass(frozen=True, slots=True)
class EntryRecord:
    id: int
    group_id: int
    certificate_id: int
    state: str
    offer_expires_at: datetime | None
    expired: bool
    guardian_subject: str


async def load_entry(conn: AsyncConnection, entry_id: int) -> EntryRecord:
    row = (
        await conn.execute(
            text(
                "SELECT w.id, w.group_id, w.certificate_id, w.state, w.offer_expires_at,"
                " coalesce(w.offer_expires_at <= now(), false) AS expired, gu.subject AS guardian_subject"
                " FROM waitlist_entries w JOIN guardians gu ON gu.id = w.guardian_id WHERE w.id = :id"
            ),
            {"id": entry_id},
        )
    ).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", ENTRY)
    return EntryRecord(**row._asdict())


async def join(conn: AsyncConnection, actor: Actor, certificate_id: int, group_id: int, today: date) -> int:
    """Queue the certificate for a full group; returns the entry id (the live one if already queued)."""
    require_guardian(actor)
    facts = await load_facts(conn, certificate_id, group_id, today)
    require_guardian_of(actor, facts.guardian_subject, ["certificateId"])
    existing = (
        await conn.execute(
            text(
                "SELECT id FROM waitlist_entries WHERE child_id = :c AND group_id = :g AND state IN ('WAITING','OFFERED')"
            ),
            {"c": facts.child_id, "g": group_id},
        )
    ).scalar()
    if existing is not None:
        raise DomainError.of(ErrorCode.DUPLICATE, "waitlist_already", GROUP)
    _, problems = assess(facts, today)
    full = any(p.code is ErrorCode.GROUP_FULL for p in problems)
    blocking = [p for p in problems if p.code is not ErrorCode.GROUP_FULL]
    if blocking:
        raise DomainError(*blocking)
    if not full:
        waiting = (
            await conn.execute(
                text("SELECT EXISTS (SELECT 1 FROM waitlist_entries WHERE group_id = :g AND state = 'WAITING')"),
                {"g": group_id},
            )
        ).scalar()
        if not waiting:  # a free seat nobody waits for: apply instead
            raise DomainError.of(ErrorCode.INVALID, "waitlist_group_not_full", GROUP)
    entry_id = (
        await conn.execute(
            text(
                "INSERT INTO waitlist_entries (group_id, certificate_id, child_id, guardian_id)"
                " VALUES (:g, :c, :ch, :gu) ON CONFLICT DO NOTHING RETURNING id"
            ),
            {"g": group_id, "c": certificate_id, "ch": facts.child_id, "gu": facts.guardian_id},
        )
    ).scalar()
    if entry_id is None:  # a twin of this request queued first
        raise DomainError.of(ErrorCode.DUPLICATE, "waitlist_already", GROUP)
    return int(entry_id)


async def _own_entry(conn: AsyncConnection, actor: Actor, entry_id: int) -> EntryRecord:
    require_guardian(actor)
    entry = await load_entry(conn, entry_id)
    require_guardian_of(actor, entry.guardian_subject, ENTRY)
    return entry


async def _end(conn: AsyncConnection, entry: EntryRecord, allowed: tuple[str, ...], target: str, hours: int) -> None:
    """Move an entry to a final state; an offer's held seat goes to the next in line."""
    await conn.execute(text("SELECT 1 FROM groups WHERE id = :g FOR NO KEY UPDATE"), {"g": entry.group_id})
    was = (
        await conn.execute(text("SELECT state FROM waitlist_entries WHERE id = :id FOR UPDATE"), {"id": entry.id})
    ).scalar_one()
    if was not in allowed:
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "waitlist_transition", ENTRY, state=was)
    await conn.execute(
        text("UPDATE waitlist_entries SET state = :t, ended_at = now() WHERE id = :id"), {"t": target, "id": entry.id}
    )
    if was == "OFFERED":
        await conn.execute(text("UPDATE groups SET seats_taken = seats_taken - 1 WHERE id = :g"), {"g": entry.group_id})
        await offer_seats(conn, entry.group_id, hours)


async def leave(conn: AsyncConnection, actor: Actor, entry_id: int, hours: int = DEFAULT_OFFER_HOURS) -> int:
    """The guardian leaves the queue (a held offer's seat passes on)."""
    entry = await _own_entry(conn, actor, entry_id)
    await _end(conn, entry, LIVE_STATES, "LEFT", hours)
    return entry_id


async def decline(conn: AsyncConnection, actor: Actor, entry_id: int, hours: int = DEFAULT_OFFER_HOURS) -> int:
    """The guardian declines an offer: the seat is offered to the next in line at once."""
    entry = await _own_entry(conn, actor, entry_id)
    await _end(conn, entry, ("OFFERED",), "DECLINED", hours)
    return entry_id


async def accept(
    conn: AsyncConnection,
    actor: Actor,
    entry_id: int,
    key: str,
    today: date,
    expected_from_family: int | None = None,
) -> int:
    """The guardian accepts an offer: the held seat becomes an application (REQUESTED) with the usual
    money checks; returns the enrollment id. A replay of the same key returns the same enrollment."""
    entry = await _own_entry(conn, actor, entry_id)
    if entry.state in ("WAITING", "DECLINED", "LEFT"):
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "waitlist_transition", ENTRY, state=entry.state)
    if entry.state == "LAPSED" or (entry.state == "OFFERED" and entry.expired):
        raise DomainError.of(ErrorCode.OFFER_EXPIRED, "waitlist_offer_gone", ENTRY)

    async def claim(c: AsyncConnection) -> bool:
        taken = await c.execute(
            text(
                "UPDATE waitlist_entries SET state = 'ACCEPTED', ended_at = now()"
                " WHERE id = :id AND state = 'OFFERED' AND offer_expires_at > now() RETURNING 1"
            ),
            {"id": entry_id},
        )
        return taken.first() is not None

    enrollment_id = await apply.create(conn, actor, entry.certificate_id, entry.group_id, key, today, held_seat=claim)
    await conn.execute(
        text("UPDATE waitlist_entries SET enrollment_id = :e WHERE id = :id AND enrollment_id IS NULL"),
        {"e": enrollment_id, "id": entry_id},
    )
    await confirm_family_share(conn, [enrollment_id], expected_from_family)
    return enrollment_id


async def offer_seats(conn: AsyncConnection, group_id: int, hours: int) -> int:
    """Offer the group's free seats to the first in line (the caller holds the group row, or this
    takes it); returns how many offers were made."""
    group = (
        await conn.execute(
            text(
                "SELECT name, capacity - seats_taken AS free, enrollment_open AND NOT archived AS open"
                " FROM groups WHERE id = :g FOR NO KEY UPDATE"
            ),
            {"g": group_id},
        )
    ).one()
    if int(group.free) <= 0 or not group.open:
        return 0
    offered = (
        await conn.execute(
            text(
                "UPDATE waitlist_entries w SET state = 'OFFERED', offered_at = now(),"
                " offer_expires_at = now() + make_interval(hours => :h)"
                " WHERE w.id IN (SELECT id FROM waitlist_entries WHERE group_id = :g AND state = 'WAITING'"
                " ORDER BY queue_no LIMIT :n FOR UPDATE)"
                " RETURNING w.guardian_id, w.offer_expires_at"
            ),
            {"g": group_id, "n": int(group.free), "h": hours},
        )
    ).all()
    if not offered:
        return 0
    await conn.execute(
        text("UPDATE groups SET seats_taken = seats_taken + :n WHERE id = :g"), {"n": len(offered), "g": group_id}
    )
    await notifications.send(
        conn,
        [
            notifications.notice(
                notifications.Kind.WAITLIST_OFFER,
                guardian_id=int(r.guardian_id),
                group=group.name,
                until=r.offer_expires_at.strftime("%d.%m.%Y %H:%M UTC"),
            )
            for r in offered
        ],
    )
    return len(offered)


async def lapse_offer(conn: AsyncConnection, entry_id: int, hours: int) -> bool:
    """An unanswered offer lapses (its seat passes on); False when it was answered meanwhile."""
    group_id = (
        await conn.execute(text("SELECT group_id FROM waitlist_entries WHERE id = :id"), {"id": entry_id})
    ).scalar_one()
    await conn.execute(text("SELECT 1 FROM groups WHERE id = :g FOR NO KEY UPDATE"), {"g": group_id})
    lapsed = (
        await conn.execute(
            text(
                "UPDATE waitlist_entries SET state = 'LAPSED', ended_at = now()"
                " WHERE id = :id AND state = 'OFFERED' AND offer_expires_at <= now()"
                " RETURNING guardian_id, (SELECT name FROM groups WHERE id = group_id) AS group_name"
            ),
            {"id": entry_id},
        )
    ).first()
    if lapsed is None:
        return False
    await conn.execute(text("UPDATE groups SET seats_taken = seats_taken - 1 WHERE id = :g"), {"g": group_id})
    await notifications.send(
        conn,
        [
            notifications.notice(
                notifications.Kind.WAITLIST_LAPSED, guardian_id=int(lapsed.guardian_id), group=lapsed.group_name
            )
        ],
    )
    await offer_seats(conn, group_id, hours)
    return True


@dataclass(frozen=True, slots=True)
class OfferPass:
    lapsed: int
    offered: int


async def run_offers(engine: AsyncEngine, hours: int = DEFAULT_OFFER_HOURS) -> OfferPass:
    """The periodic pass: lapse unanswered offers, then offer every group's free seats to its queue
    (seats freed by a refusal, a cancellation, an expiry or a raised capacity). One transaction per
    offer and per group; safe from many processes at once."""

    async def expired(conn: AsyncConnection) -> list[int]:
        rows = await conn.execute(
            text("SELECT id FROM waitlist_entries WHERE state = 'OFFERED' AND offer_expires_at <= now() ORDER BY id")
        )
        return [int(r.id) for r in rows]

    async def groups(conn: AsyncConnection) -> list[int]:
        rows = await conn.execute(
            text(
                "SELECT g.id FROM groups g WHERE g.seats_taken < g.capacity AND g.enrollment_open AND NOT g.archived"
                " AND EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.group_id = g.id AND w.state = 'WAITING')"
                " ORDER BY g.id"
            )
        )
        return [int(r.id) for r in rows]

    lapsed = 0
    for eid in await transaction(engine, expired):

        async def one(conn: AsyncConnection, eid: int = eid) -> bool:
            return await lapse_offer(conn, eid, hours)

        lapsed += await transaction(engine, one)
    offered = 0
    for gid in await transaction(engine, groups):

        async def offer(conn: AsyncConnection, gid: int = gid) -> int:
            return await offer_seats(conn, gid, hours)

        offered += await transaction(engine, offer)
    return OfferPass(lapsed, offered)
