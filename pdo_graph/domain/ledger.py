"""The append-only double-entry journal and the balance projection kept beside it.

Each entry moves ``amount`` from one account of a certificate's period balance to another:

    CREDIT   budget    -> available
    RESERVE  available -> reserved
    RELEASE  reserved  -> available
    CHARGE   reserved  -> spent
    EXPIRE   available -> expired
    CARRY    available -> carried   (out of a closing period, ``carry_in`` False)
    CARRY    carry     -> available (into the municipality's next period, ``carry_in`` True)

Every entry updates ``balances`` in the same statement batch, so the projection always equals
the journal; ``check_invariants`` proves it with one query, together with the rules that keep
money where it may be: no available or reserved money in a closed period, no live contract on
a revoked or frozen certificate, seats taken equal to live contracts plus the seats held by waitlist
offers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.money import format_amount


class Kind(StrEnum):
    CREDIT = "CREDIT"
    RESERVE = "RESERVE"
    RELEASE = "RELEASE"
    CHARGE = "CHARGE"
    EXPIRE = "EXPIRE"
    CARRY = "CARRY"


ACCOUNTS: dict[Kind, tuple[str, str]] = {  # (debit, credit)
    Kind.CREDIT: ("available", "budget"),
    Kind.RESERVE: ("reserved", "available"),
    Kind.RELEASE: ("available", "reserved"),
    Kind.CHARGE: ("spent", "reserved"),
    Kind.EXPIRE: ("expired", "available"),
    Kind.CARRY: ("carried", "available"),
}
CARRY_IN_ACCOUNTS = ("available", "carry")

# How each kind changes the projection's columns.
_BALANCE_UPDATE: dict[Kind, str] = {
    Kind.CREDIT: "credited = credited + :amount",
    Kind.RESERVE: "reserved = reserved + :amount",
    Kind.RELEASE: "reserved = reserved - :amount",
    Kind.CHARGE: "reserved = reserved - :amount, spent = spent + :amount",
    Kind.EXPIRE: "expired = expired + :amount",
    Kind.CARRY: "carried = carried + :amount",
}
_CARRY_IN_UPDATE = "credited = credited + :amount"


@dataclass(frozen=True, slots=True)
class Entry:
    kind: Kind
    certificate_id: int
    period_id: int
    amount: int
    description: str
    actor: str
    enrollment_id: int | None = None
    month: date | None = None
    completeness: int | None = None
    idempotency_key: str | None = None
    carry_in: bool = False  # CARRY only: into the period (else out of it)


class InsufficientFunds(Exception):
    """A RESERVE or EXPIRE would take ``available`` below zero."""


async def post(conn: AsyncConnection, entry: Entry) -> int:
    """Append one entry and apply it to the balance; returns the entry id.

    Debits of ``available`` are guarded (``WHERE available >= amount``), so a balance that
    changed underneath is refused instead of going negative.
    """
    if entry.amount <= 0:
        raise ValueError("ledger amounts are positive")
    if entry.carry_in and entry.kind is not Kind.CARRY:
        raise ValueError("only CARRY entries carry in")
    guard = ""
    if entry.kind in (Kind.RESERVE, Kind.EXPIRE) or (entry.kind is Kind.CARRY and not entry.carry_in):
        guard = " AND available >= :amount"
    if entry.kind in (Kind.RELEASE, Kind.CHARGE):
        guard = " AND reserved >= :amount"
    change = _CARRY_IN_UPDATE if entry.carry_in else _BALANCE_UPDATE[entry.kind]
    debit, credit = CARRY_IN_ACCOUNTS if entry.carry_in else ACCOUNTS[entry.kind]
    # one statement: the guarded balance update, and the entry only when it changed the balance
    row = await conn.execute(
        text(
            f"WITH b AS (UPDATE balances SET {change} WHERE certificate_id = :cid AND period_id = :pid{guard}"
            " RETURNING 1)"
            " INSERT INTO ledger_entries (kind, certificate_id, period_id, enrollment_id, month, completeness,"
            " amount, debit_account, credit_account, description, idempotency_key, actor)"
            " SELECT CAST(:kind AS text), :cid, :pid, CAST(:eid AS bigint), CAST(:month AS date),"
            " CAST(:completeness AS smallint), :amount, CAST(:debit AS text), CAST(:credit AS text),"
            " CAST(:description AS text), CAST(:key AS text), CAST(:actor AS text) FROM b RETURNING id"
        ),
        {
            "kind": entry.kind.value,
            "cid": entry.certificate_id,
            "pid": entry.period_id,
            "eid": entry.enrollment_id,
            "month": entry.month,
            "completeness": entry.completeness,
            "amount": entry.amount,
            "debit": debit,
            "credit": credit,
            "description": entry.description,
            "key": entry.idempotency_key,
            "actor": entry.actor,
        },
    )
    entry_id = row.scalar()
    if entry_id is None:
        raise InsufficientFunds(entry)
    return int(entry_id)


async def release(conn: AsyncConnection, entry: Entry) -> int:
    """Return reserved money to available (a RELEASE entry); returns the kopecks that expired.

    A closed period never holds available money: a release into one (the period's close ending
    its contracts, or a contract a closed period still carries from before this rule) expires at
    once, an EXPIRE entry in the same transaction. The caller holds the period row (``FOR SHARE``
    or, closing it, exclusively), so the status read here cannot change before the commit.
    """
    if entry.kind is not Kind.RELEASE:
        raise ValueError("release posts RELEASE entries")
    await post(conn, entry)
    closed = (
        await conn.execute(text("SELECT status = 'CLOSED' FROM funding_periods WHERE id = :p"), {"p": entry.period_id})
    ).scalar_one()
    if not closed:
        return 0
    await post(
        conn,
        replace(
            entry,
            kind=Kind.EXPIRE,
            description=f"Возвращённый резерв сгорел: период финансирования закрыт: {format_amount(entry.amount)} ₽",
            idempotency_key=None,
        ),
    )
    return entry.amount


async def release_many(conn: AsyncConnection, entries: list[Entry]) -> None:
    """Many RELEASE entries at once (a draw's losers): the balance rows locked in certificate order,
    one guarded UPDATE of them and one INSERT of the entries. Entries of a closed period go through
    :func:`release` one by one (they expire at once). The caller holds the periods ``FOR SHARE``."""
    if any(e.kind is not Kind.RELEASE or e.amount <= 0 for e in entries):
        raise ValueError("release_many posts positive RELEASE entries")
    if not entries:
        return
    closed = {
        int(r.id)
        for r in await conn.execute(
            text("SELECT id FROM funding_periods WHERE id = ANY(:p) AND status = 'CLOSED'"),
            {"p": sorted({e.period_id for e in entries})},
        )
    }
    for e in (e for e in entries if e.period_id in closed):
        await release(conn, e)
    entries = [e for e in entries if e.period_id not in closed]
    if not entries:
        return
    columns = {
        "c": [e.certificate_id for e in entries],
        "p": [e.period_id for e in entries],
        "a": [e.amount for e in entries],
    }
    keys = sorted({(e.certificate_id, e.period_id) for e in entries})
    await conn.execute(
        text(
            "SELECT 1 FROM balances b JOIN unnest(CAST(:c AS bigint[]), CAST(:p AS bigint[])) AS k(c, p)"
            " ON b.certificate_id = k.c AND b.period_id = k.p ORDER BY b.certificate_id, b.period_id"
            " FOR NO KEY UPDATE OF b"
        ),
        {"c": [k[0] for k in keys], "p": [k[1] for k in keys]},
    )
    updated = await conn.execute(
        text(
            "UPDATE balances b SET reserved = b.reserved - x.a"
            " FROM (SELECT c, p, sum(a) AS a FROM unnest(CAST(:c AS bigint[]), CAST(:p AS bigint[]),"
            " CAST(:a AS bigint[])) AS t(c, p, a) GROUP BY c, p) x"
            " WHERE b.certificate_id = x.c AND b.period_id = x.p AND b.reserved >= x.a RETURNING 1"
        ),
        columns,
    )
    if len(updated.all()) != len(keys):
        raise InsufficientFunds(entries[0])
    debit, credit = ACCOUNTS[Kind.RELEASE]
    await conn.execute(
        text(
            "INSERT INTO ledger_entries (kind, certificate_id, period_id, enrollment_id, amount, debit_account,"
            " credit_account, description, actor)"
            " SELECT 'RELEASE', t.c, t.p, t.e, t.a, :debit, :credit, t.d, t.actor FROM unnest(CAST(:c AS bigint[]),"
            " CAST(:p AS bigint[]), CAST(:e AS bigint[]), CAST(:a AS bigint[]), CAST(:d AS text[]),"
            " CAST(:actors AS text[])) AS t(c, p, e, a, d, actor)"
        ),
        {
            **columns,
            "e": [e.enrollment_id for e in entries],
            "d": [e.description for e in entries],
            "actors": [e.actor for e in entries],
            "debit": debit,
            "credit": credit,
        },
    )


INVARIANTS_SQL = """
WITH sums AS (
    SELECT certificate_id, period_id,
           coalesce(sum(amount) FILTER (WHERE kind = 'CREDIT' OR (kind = 'CARRY' AND debit_account = 'available')), 0)
             AS credited,
           coalesce(sum(amount) FILTER (WHERE kind = 'RESERVE'), 0)
             - coalesce(sum(amount) FILTER (WHERE kind IN ('RELEASE', 'CHARGE')), 0) AS reserved,
           coalesce(sum(amount) FILTER (WHERE kind = 'CHARGE'), 0) AS spent,
           coalesce(sum(amount) FILTER (WHERE kind = 'EXPIRE'), 0) AS expired,
           coalesce(sum(amount) FILTER (WHERE kind = 'CARRY' AND debit_account = 'carried'), 0) AS carried
      FROM ledger_entries GROUP BY certificate_id, period_id
)
SELECT 'balance_mismatch' AS violation,
       format('certificate %s period %s', coalesce(b.certificate_id, s.certificate_id),
              coalesce(b.period_id, s.period_id)) AS detail
  FROM balances b FULL JOIN sums s USING (certificate_id, period_id)
 WHERE coalesce(b.credited, 0) <> coalesce(s.credited, 0)
    OR coalesce(b.reserved, 0) <> coalesce(s.reserved, 0)
    OR coalesce(b.spent, 0) <> coalesce(s.spent, 0)
    OR coalesce(b.expired, 0) <> coalesce(s.expired, 0)
    OR coalesce(b.carried, 0) <> coalesce(s.carried, 0)
UNION ALL
SELECT 'negative_available', format('certificate %s period %s', certificate_id, period_id)
  FROM balances WHERE available < 0
UNION ALL
SELECT 'unbalanced_entry', format('entry %s', id)
  FROM ledger_entries WHERE amount <= 0 OR debit_account = credit_account
UNION ALL
SELECT 'seats_mismatch', format('group %s: seats_taken %s, live enrollments %s, held offers %s', g.id,
              g.seats_taken, coalesce(e.n, 0), coalesce(w.n, 0))
  FROM groups g
  LEFT JOIN (SELECT group_id, count(*) AS n FROM enrollments
              WHERE status IN ('REQUESTED', 'ACTIVE', 'AWAITING_CONSENT') GROUP BY group_id) e ON e.group_id = g.id
  LEFT JOIN (SELECT group_id, count(*) AS n FROM waitlist_entries
              WHERE state = 'OFFERED' GROUP BY group_id) w ON w.group_id = g.id
 WHERE g.seats_taken <> coalesce(e.n, 0) + coalesce(w.n, 0)
UNION ALL
SELECT 'enrollment_reserve_mismatch', format('enrollment %s', e.id)
  FROM enrollments e
  LEFT JOIN (SELECT enrollment_id,
                    coalesce(sum(amount) FILTER (WHERE kind = 'RESERVE'), 0)
                      - coalesce(sum(amount) FILTER (WHERE kind IN ('RELEASE', 'CHARGE')), 0) AS reserved,
                    coalesce(sum(amount) FILTER (WHERE kind = 'CHARGE'), 0) AS charged
               FROM ledger_entries WHERE enrollment_id IS NOT NULL GROUP BY enrollment_id) l
    ON l.enrollment_id = e.id
 WHERE e.reserved <> coalesce(l.reserved, 0) OR e.charged <> coalesce(l.charged, 0)
UNION ALL
SELECT 'money_in_closed_period',
       format('certificate %s period %s: available %s, reserved %s', b.certificate_id, b.period_id,
              b.available, b.reserved)
  FROM balances b JOIN funding_periods p ON p.id = b.period_id
 WHERE p.status = 'CLOSED' AND (b.reserved <> 0 OR b.available <> 0)
UNION ALL
SELECT 'live_contract_on_inactive_certificate',
       format('enrollment %s (%s) on certificate %s (%s)', e.id, e.status, c.id, c.status)
  FROM enrollments e JOIN certificates c ON c.id = e.certificate_id
 WHERE e.status IN ('PENDING_DRAW', 'REQUESTED', 'ACTIVE', 'AWAITING_CONSENT') AND c.status IN ('REVOKED', 'FROZEN')
UNION ALL
SELECT 'live_contract_in_closed_period', format('enrollment %s (%s) in period %s', e.id, e.status, e.period_id)
  FROM enrollments e JOIN funding_periods p ON p.id = e.period_id
 WHERE p.status = 'CLOSED' AND e.status IN ('PENDING_DRAW', 'REQUESTED', 'ACTIVE', 'AWAITING_CONSENT')
UNION ALL
SELECT 'carry_mismatch', format('certificate %s period %s: carried %s, carry-overs %s', b.certificate_id,
       b.period_id, b.carried, coalesce(c.amount, 0))
  FROM balances b
  LEFT JOIN carry_overs c ON c.certificate_id = b.certificate_id AND c.from_period_id = b.period_id
 WHERE b.carried <> coalesce(c.amount, 0)
UNION ALL
SELECT 'statement_mismatch', format('statement %s: total %s, charges %s', s.id, s.total, coalesce(l.charged, 0))
  FROM settlement_statements s
  LEFT JOIN LATERAL (
        SELECT sum(le.amount) AS charged FROM ledger_entries le
          JOIN funding_periods fp ON fp.id = le.period_id
          JOIN enrollments en ON en.id = le.enrollment_id
          JOIN groups g ON g.id = en.group_id JOIN programs pg ON pg.id = g.program_id
         WHERE le.kind = 'CHARGE' AND le.month = s.month AND fp.municipality = s.payer
           AND pg.provider_id = s.provider_id) l ON true
 WHERE s.status = 'ISSUED' AND s.total <> coalesce(l.charged, 0)
"""


async def check_invariants(conn: AsyncConnection) -> list[tuple[str, str]]:
    """Every violation of the ledger's invariants; an empty list means all hold."""
    rows = await conn.execute(text(INVARIANTS_SQL))
    return [(str(r[0]), str(r[1])) for r in rows]
