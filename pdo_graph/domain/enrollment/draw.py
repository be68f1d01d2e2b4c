"""The fair opening minute (domain.md "Waitlist, fair opening, planning").

A group may open for applications at ``enrollment_opens_at``. Before it, applying is refused
(NOT_OPEN_YET). Applications that arrive within the fair window after it (``fair_window_minutes``,
default 10) reserve the certificate's part at once but take no seat: they wait as PENDING_DRAW.
When the window ends the seats are drawn, once, by whichever comes first: the draw job
(:func:`run_due_draws`) or the first application after the window (it draws before being served
first come, first served). The winners become REQUESTED with their seat; the others are released
(EXPIRED, reserve returned) and join the group's waitlist in the drawn order.

The draw is verifiable. When the opening is set, a random seed is committed: its SHA-256 is
published on the group at once, the seed itself only after the draw. The order is a pure function
of the seed and the application ids (:func:`drawn_order`): each id's ticket is
``SHA-256(seed + ":" + id)`` (hex), the order sorts the tickets ascending. Sorting by a keyed hash
makes every order of the entrants equally likely as long as the seed is unpredictable, and the
published hash keeps the operator from choosing the seed after seeing the applications.
``pdo-graph draw verify GROUP_ID`` recomputes it (:func:`verify`).

Exactly once across processes: the draw holds the group's ``group_draws`` row ``FOR UPDATE`` and
re-reads ``drawn_at`` under it. A window application reads that row ``FOR KEY SHARE`` (a locking
read returns its newest version, after waiting for a draw in progress) and holds it until it
commits, so an application is either in the draw or sees it done. Locks: the periods (shared),
the certificate, the draw row, then the group row (a window application's insert takes it
``FOR KEY SHARE`` through its foreign key; the draw ``FOR NO KEY UPDATE``), enrollments, balances.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.db.session import transaction
from pdo_graph.domain import ledger, notifications
from pdo_graph.domain.enrollment.lifecycle import GROUP
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.money import format_amount
from pdo_graph.domain.periods import lock_shared

DEFAULT_WINDOW_MINUTES = 10
MAX_WINDOW_MINUTES = 1440
SYSTEM = "system:draw"
LOST_REASON = "Место не выпало в жеребьёвке: ребёнок в листе ожидания"


def new_seed() -> str:
    """256 random bits, hex."""
    return secrets.token_hex(32)


def seed_hash(seed: str) -> str:
    """What is published before the window opens: SHA-256 of the seed (hex)."""
    return hashlib.sha256(seed.encode()).hexdigest()


def ticket(seed: str, application_id: int) -> str:
    """An application's ticket in the draw: SHA-256 of ``seed:id`` (hex)."""
    return hashlib.sha256(f"{seed}:{application_id}".encode()).hexdigest()


def drawn_order(seed: str, application_ids: list[int]) -> list[int]:
    """The entrants in drawn order: ascending tickets (ties, impossible in practice, by id)."""
    return sorted(set(application_ids), key=lambda i: (ticket(seed, i), i))


class Phase(StrEnum):
    FIRST_COME = "FIRST_COME"  # no opening, or drawn: first come, first served
    NOT_YET = "NOT_YET"  # before the opening
    WINDOW = "WINDOW"  # inside the fair window: applications wait for the draw
    DUE = "DUE"  # the window has ended and the seats are not drawn yet


@dataclass(frozen=True, slots=True)
class Opening:
    opens_at: datetime | None
    window_ends_at: datetime | None
    drawn_at: datetime | None
    now: datetime

    @property
    def phase(self) -> Phase:
        if self.opens_at is None or self.window_ends_at is None or self.drawn_at is not None:
            return Phase.FIRST_COME
        if self.now < self.opens_at:
            return Phase.NOT_YET
        if self.now < self.window_ends_at:
            return Phase.WINDOW
        return Phase.DUE


async def opening(conn: AsyncConnection, group_id: int) -> Opening:
    row = (
        await conn.execute(
            text(
                "SELECT g.enrollment_opens_at, d.window_ends_at, d.drawn_at, now() AS now"
                " FROM groups g LEFT JOIN group_draws d ON d.group_id = g.id WHERE g.id = :g"
            ),
            {"g": group_id},
        )
    ).first()
    if row is None:
        return Opening(None, None, None, datetime.now().astimezone())
    return Opening(row.enrollment_opens_at, row.window_ends_at, row.drawn_at, row.now)


def not_open_problem(o: Opening) -> Problem:
    assert o.opens_at is not None
    return Problem(ErrorCode.NOT_OPEN_YET, "enrollment_not_open_yet", GROUP, opens_at=o.opens_at.isoformat())


async def quote_problems(conn: AsyncConnection, group_id: int) -> list[Problem]:
    """NOT_OPEN_YET before the opening (for quotes and plans); nothing otherwise."""
    o = await opening(conn, group_id)
    return [not_open_problem(o)] if o.phase is Phase.NOT_YET else []


async def admit(conn: AsyncConnection, group_id: int, known: Opening | None = None) -> Phase:
    """Where an application to the group goes now: FIRST_COME (a seat, as usual) or WINDOW (it waits
    for the draw; the draw row is held ``FOR KEY SHARE`` until the commit). Refuses NOT_YET with
    NOT_OPEN_YET; a DUE draw is run here first (then FIRST_COME). ``known``: the opening as the
    caller just read it (a plain read, as ``opening``'s own), so it is not read again; inside the
    window the draw's row is read again under its lock either way."""
    o = known or await opening(conn, group_id)
    phase = o.phase
    if phase is Phase.NOT_YET:
        raise DomainError(not_open_problem(o))
    if phase is Phase.DUE:
        await run_draw(conn, group_id)
        return Phase.FIRST_COME
    if phase is Phase.WINDOW:
        # the draw's row, shared until the commit: a draw waits for this application, or has committed
        # and is seen here (a locking read returns the row's newest version)
        state = (
            await conn.execute(
                text(
                    "SELECT drawn_at IS NULL AS undrawn, now() < window_ends_at AS open FROM group_draws"
                    " WHERE group_id = :g FOR KEY SHARE"
                ),
                {"g": group_id},
            )
        ).one()
        if not state.undrawn:
            return Phase.FIRST_COME
        if not state.open:  # the window ended while waiting for the lock
            await run_draw(conn, group_id)
            return Phase.FIRST_COME
        return Phase.WINDOW
    return phase


async def schedule(conn: AsyncConnection, group_id: int, opens_at: datetime | None, window_minutes: int) -> None:
    """Set (or clear) a group's opening before it happens: the seed is committed once, the window's
    end follows the opening. A drawn or already opened group keeps its opening."""
    if not 0 <= window_minutes <= MAX_WINDOW_MINUTES:
        raise DomainError.of(
            ErrorCode.INVALID, "fair_window_range", ["fairWindowMinutes"], min=0, max=MAX_WINDOW_MINUTES
        )
    current = await opening(conn, group_id)
    if current.opens_at is not None and current.now >= current.opens_at:
        if opens_at != current.opens_at:
            raise DomainError.of(ErrorCode.INVALID_TRANSITION, "fair_opening_passed", ["enrollmentOpensAt"])
        return
    if opens_at is not None and opens_at <= current.now:
        raise DomainError.of(ErrorCode.INVALID, "fair_opening_past", ["enrollmentOpensAt"])
    await conn.execute(
        text("UPDATE groups SET enrollment_opens_at = :o, fair_window_minutes = :w, modified_at = now() WHERE id = :g"),
        {"o": opens_at, "w": window_minutes, "g": group_id},
    )
    if opens_at is None:
        await conn.execute(text("DELETE FROM group_draws WHERE group_id = :g"), {"g": group_id})
        return
    seed = new_seed()
    await conn.execute(
        text(
            "INSERT INTO group_draws (group_id, seed, seed_hash, window_ends_at) VALUES (:g, :s, :h, :e)"
            " ON CONFLICT (group_id) DO UPDATE SET window_ends_at = excluded.window_ends_at"
        ),
        {"g": group_id, "s": seed, "h": seed_hash(seed), "e": opens_at + timedelta(minutes=window_minutes)},
    )


@dataclass(frozen=True, slots=True)
class DrawResult:
    group_id: int
    entrants: int
    winners: int


async def run_draw(conn: AsyncConnection, group_id: int) -> DrawResult | None:
    """Draw the group's seats if its window has ended and it is not drawn; None otherwise.

    Locks: the entrants' periods (shared), the draw row (FOR UPDATE: no window application is in
    flight, no second draw), the group row, the entrants' rows (sorted), then balances in
    certificate order.
    """
    periods = await conn.execute(
        text("SELECT DISTINCT period_id FROM enrollments WHERE group_id = :g AND status = 'PENDING_DRAW'"),
        {"g": group_id},
    )
    await lock_shared(conn, [int(r.period_id) for r in periods])
    state = (
        await conn.execute(
            text(
                "SELECT seed, drawn_at, window_ends_at <= now() AS due FROM group_draws WHERE group_id = :g FOR UPDATE"
            ),
            {"g": group_id},
        )
    ).first()
    if state is None or state.drawn_at is not None or not state.due:
        return None
    group = (
        await conn.execute(
            text("SELECT capacity, seats_taken, name FROM groups WHERE id = :g FOR NO KEY UPDATE"), {"g": group_id}
        )
    ).one()
    rows = (
        await conn.execute(
            text(
                "SELECT e.id, e.certificate_id, e.period_id, e.reserved, e.child_id, e.guardian_id FROM enrollments e"
                " WHERE e.group_id = :g AND e.status = 'PENDING_DRAW' ORDER BY e.id FOR NO KEY UPDATE"
            ),
            {"g": group_id},
        )
    ).all()
    # an entrant's period locked by nobody yet (it applied after the first read): lock it now
    await lock_shared(conn, [int(r.period_id) for r in rows])
    by_id = {int(r.id): r for r in rows}
    entrants = sorted(by_id)
    order = drawn_order(state.seed, entrants)
    seats = max(0, min(len(order), int(group.capacity) - int(group.seats_taken)))
    winners, losers = order[:seats], order[seats:]
    if winners:
        await conn.execute(text("UPDATE enrollments SET status = 'REQUESTED' WHERE id = ANY(:ids)"), {"ids": winners})
        await conn.execute(
            text("UPDATE groups SET seats_taken = seats_taken + :n WHERE id = :g"), {"n": len(winners), "g": group_id}
        )
    if losers:
        await conn.execute(
            text(
                "UPDATE enrollments SET status = 'EXPIRED', reserved = 0, ended_at = now(),"
                " reason = :reason WHERE id = ANY(:ids)"
            ),
            {"ids": losers, "reason": LOST_REASON},
        )
        await ledger.release_many(
            conn,
            [
                ledger.Entry(
                    kind=ledger.Kind.RELEASE,
                    certificate_id=int(by_id[eid].certificate_id),
                    period_id=int(by_id[eid].period_id),
                    amount=int(by_id[eid].reserved),
                    description=f"Возврат резерва: место не выпало в жеребьёвке: {format_amount(int(by_id[eid].reserved))} ₽",
                    actor=SYSTEM,
                    enrollment_id=eid,
                )
                for eid in losers
                if int(by_id[eid].reserved) > 0
            ],
        )
        # the waitlist in the drawn order
        await conn.execute(
            text(
                "INSERT INTO waitlist_entries (group_id, certificate_id, child_id, guardian_id, source)"
                " SELECT :g, e.certificate_id, e.child_id, e.guardian_id, 'DRAW'"
                " FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS o(id, n) JOIN enrollments e ON e.id = o.id"
                " ORDER BY o.n"
            ),
            {"g": group_id, "ids": losers},
        )
    await conn.execute(
        text(
            "UPDATE group_draws SET drawn_at = now(), entrants = :entrants, drawn_order = :order, seats = :seats"
            " WHERE group_id = :g"
        ),
        {"entrants": entrants, "order": order, "seats": len(winners), "g": group_id},
    )
    name = str(group.name)
    won, lost = notifications.Kind.DRAW_WON, notifications.Kind.DRAW_LOST
    await notifications.send(
        conn,
        [notifications.notice(won, guardian_id=int(by_id[i].guardian_id), group=name) for i in winners]
        + [
            notifications.notice(lost, guardian_id=int(by_id[i].guardian_id), group=name, position=n + 1)
            for n, i in enumerate(losers)
        ],
    )
    return DrawResult(group_id, len(entrants), len(winners))


async def run_due_draws(engine: AsyncEngine) -> list[DrawResult]:
    """The job: every group whose window has ended and is not drawn, one transaction each. Safe
    from many processes at once (the second finds it drawn)."""

    async def due(conn: AsyncConnection) -> list[int]:
        rows = await conn.execute(
            text("SELECT group_id FROM group_draws WHERE drawn_at IS NULL AND window_ends_at <= now() ORDER BY 1")
        )
        return [int(r.group_id) for r in rows]

    done: list[DrawResult] = []
    for gid in await transaction(engine, due):

        async def one(conn: AsyncConnection, gid: int = gid) -> DrawResult | None:
            return await run_draw(conn, gid)

        result = await transaction(engine, one)
        if result is not None:
            done.append(result)
    return done


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``pdo-graph draw verify`` reports: each check and its outcome."""

    group_id: int
    drawn: bool
    seed_matches_hash: bool
    order_matches: bool
    outcome_matches: bool
    entrants: int
    seats: int
    seed: str | None
    seed_hash: str | None
    order: list[int]

    @property
    def ok(self) -> bool:
        return self.drawn and self.seed_matches_hash and self.order_matches and self.outcome_matches


async def verify(conn: AsyncConnection, group_id: int) -> Verification:
    """Recompute a group's draw from its published inputs (the seed, the application ids) and compare
    it with the recorded order and with what happened to the applications (the first ``seats`` of
    the order got a seat, the rest went to the waitlist)."""
    row = (
        await conn.execute(
            text("SELECT seed, seed_hash, drawn_at, entrants, drawn_order, seats FROM group_draws WHERE group_id = :g"),
            {"g": group_id},
        )
    ).first()
    if row is None or row.drawn_at is None:
        return Verification(
            group_id, False, False, False, False, 0, 0, None, None if row is None else row.seed_hash, []
        )
    entrants = [int(i) for i in row.entrants or []]
    recorded = [int(i) for i in row.drawn_order or []]
    order = drawn_order(row.seed, entrants)
    seats = int(row.seats or 0)
    lost = {
        int(r.id): r.reason == LOST_REASON
        for r in await conn.execute(text("SELECT id, reason FROM enrollments WHERE id = ANY(:ids)"), {"ids": entrants})
    }
    won = set(order[:seats])
    outcome = len(lost) == len(entrants) and all(lost[i] == (i not in won) for i in order)
    return Verification(
        group_id=group_id,
        drawn=True,
        seed_matches_hash=seed_hash(row.seed) == row.seed_hash,
        order_matches=order == recorded,
        outcome_matches=outcome,
        entrants=len(entrants),
        seats=seats,
        seed=row.seed,
        seed_hash=row.seed_hash,
        order=order,
    )
