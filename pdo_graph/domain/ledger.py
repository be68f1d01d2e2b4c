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

import time
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


# The invariants, over the whole ledger or a set of periods (``:periods``): ``ledger``, ``bal`` and
# ``enr`` are the tables or only the rows of those periods (``{where}``); ``{statements}`` picks the
# issued statements whose totals are checked against the ledger's charges. The entries are read once.
_SCOPED_SQL = """
WITH ledger AS NOT MATERIALIZED (SELECT * FROM ledger_entries{where}),
     bal AS NOT MATERIALIZED (SELECT * FROM balances{where}),
     enr AS NOT MATERIALIZED (SELECT * FROM enrollments{where}),
     sums AS (
    SELECT certificate_id, period_id,
           coalesce(sum(amount) FILTER (WHERE kind = 'CREDIT' OR (kind = 'CARRY' AND debit_account = 'available')), 0)
             AS credited,
           coalesce(sum(amount) FILTER (WHERE kind = 'RESERVE'), 0)
             - coalesce(sum(amount) FILTER (WHERE kind IN ('RELEASE', 'CHARGE')), 0) AS reserved,
           coalesce(sum(amount) FILTER (WHERE kind = 'CHARGE'), 0) AS spent,
           coalesce(sum(amount) FILTER (WHERE kind = 'EXPIRE'), 0) AS expired,
           coalesce(sum(amount) FILTER (WHERE kind = 'CARRY' AND debit_account = 'carried'), 0) AS carried,
           count(*) FILTER (WHERE amount <= 0 OR debit_account = credit_account) AS unbalanced
      FROM ledger GROUP BY certificate_id, period_id
)
SELECT v.violation, v.detail
  FROM bal b FULL JOIN sums s USING (certificate_id, period_id)
  CROSS JOIN LATERAL (VALUES
    ('balance_mismatch', format('certificate %s period %s', coalesce(b.certificate_id, s.certificate_id),
                                coalesce(b.period_id, s.period_id)),
     coalesce(b.credited, 0) <> coalesce(s.credited, 0)
       OR coalesce(b.reserved, 0) <> coalesce(s.reserved, 0)
       OR coalesce(b.spent, 0) <> coalesce(s.spent, 0)
       OR coalesce(b.expired, 0) <> coalesce(s.expired, 0)
       OR coalesce(b.carried, 0) <> coalesce(s.carried, 0)),
    -- entries that move nothing (the table's checks refuse them; counted in the same pass as the sums)
    ('unbalanced_entry', format('certificate %s period %s: %s entries', s.certificate_id, s.period_id, s.unbalanced),
     coalesce(s.unbalanced, 0) > 0)) AS v(violation, detail, found)
 WHERE v.found
UNION ALL
SELECT 'negative_available', format('certificate %s period %s', certificate_id, period_id)
  FROM bal WHERE available < 0
UNION ALL
SELECT 'enrollment_reserve_mismatch', format('enrollment %s', e.id)
  FROM enr e
  LEFT JOIN (SELECT enrollment_id,
                    coalesce(sum(amount) FILTER (WHERE kind = 'RESERVE'), 0)
                      - coalesce(sum(amount) FILTER (WHERE kind IN ('RELEASE', 'CHARGE')), 0) AS reserved,
                    coalesce(sum(amount) FILTER (WHERE kind = 'CHARGE'), 0) AS charged
               FROM ledger WHERE enrollment_id IS NOT NULL GROUP BY enrollment_id) l
    ON l.enrollment_id = e.id
 WHERE e.reserved <> coalesce(l.reserved, 0) OR e.charged <> coalesce(l.charged, 0)
UNION ALL
SELECT 'money_in_closed_period',
       format('certificate %s period %s: available %s, reserved %s', b.certificate_id, b.period_id,
              b.available, b.reserved)
  FROM bal b JOIN funding_periods p ON p.id = b.period_id
 WHERE p.status = 'CLOSED' AND (b.reserved <> 0 OR b.available <> 0)
UNION ALL
SELECT 'live_contract_in_closed_period', format('enrollment %s (%s) in period %s', e.id, e.status, e.period_id)
  FROM enr e JOIN funding_periods p ON p.id = e.period_id
 WHERE p.status = 'CLOSED' AND e.status IN ('PENDING_DRAW', 'REQUESTED', 'ACTIVE', 'AWAITING_CONSENT')
UNION ALL
SELECT 'carry_mismatch', format('certificate %s period %s: carried %s, carry-overs %s', b.certificate_id,
       b.period_id, b.carried, coalesce(c.amount, 0))
  FROM bal b
  LEFT JOIN carry_overs c ON c.certificate_id = b.certificate_id AND c.from_period_id = b.period_id
 WHERE b.carried <> coalesce(c.amount, 0)
UNION ALL
SELECT 'statement_mismatch', format('statement %s: total %s, charges %s', s.id, s.total, coalesce(l.charged, 0))
  FROM settlement_statements s
  LEFT JOIN LATERAL ({charges}) l ON true
 WHERE s.status = 'ISSUED' AND s.total <> coalesce(l.charged, 0){statements}
"""
# What the ledger charged for a statement's payer, provider and month (over an alias ``s``).
_STATEMENT_CHARGES = """
        SELECT sum(le.amount) AS charged FROM ledger_entries le
          JOIN funding_periods fp ON fp.id = le.period_id
          JOIN enrollments en ON en.id = le.enrollment_id
          JOIN groups g ON g.id = en.group_id JOIN programs pg ON pg.id = g.program_id
         WHERE le.kind = 'CHARGE' AND le.month = s.month AND fp.municipality = s.payer
           AND pg.provider_id = s.provider_id"""
# The invariants that are not a period's: seats, and live contracts on certificates that cannot pay.
_GLOBAL_SQL = """
SELECT 'seats_mismatch', format('group %s: seats_taken %s, live enrollments %s, held offers %s', g.id,
              g.seats_taken, coalesce(e.n, 0), coalesce(w.n, 0))
  FROM groups g
  LEFT JOIN (SELECT group_id, count(*) AS n FROM enrollments
              WHERE status IN ('REQUESTED', 'ACTIVE', 'AWAITING_CONSENT') GROUP BY group_id) e ON e.group_id = g.id
  LEFT JOIN (SELECT group_id, count(*) AS n FROM waitlist_entries
              WHERE state = 'OFFERED' GROUP BY group_id) w ON w.group_id = g.id
 WHERE g.seats_taken <> coalesce(e.n, 0) + coalesce(w.n, 0)
UNION ALL
SELECT 'live_contract_on_inactive_certificate',
       format('enrollment %s (%s) on certificate %s (%s)', e.id, e.status, c.id, c.status)
  FROM enrollments e JOIN certificates c ON c.id = e.certificate_id
 WHERE e.status IN ('PENDING_DRAW', 'REQUESTED', 'ACTIVE', 'AWAITING_CONSENT') AND c.status IN ('REVOKED', 'FROZEN')
"""
_IN_PERIODS = " WHERE period_id = ANY(CAST(:periods AS bigint[]))"
# The periods overlapping a statement's month (over aliases ``s`` and ``fp``).
_OVERLAPS_MONTH = "fp.municipality = s.payer AND fp.starts_on < s.month + interval '1 month' AND fp.ends_on >= s.month"
# An issued statement is covered by the seals when every period overlapping its month is sealed and
# each seal verified it with this very total; the others are checked against the ledger.
_NOT_SEALED_STATEMENT = f"""
   AND (NOT EXISTS (SELECT 1 FROM funding_periods fp WHERE {_OVERLAPS_MONTH})
        OR EXISTS (SELECT 1 FROM funding_periods fp LEFT JOIN ledger_checkpoints cp ON cp.period_id = fp.id
                    WHERE {_OVERLAPS_MONTH} AND (cp.statements ->> s.id::text) IS DISTINCT FROM s.total::text))"""


def invariants_sql(scoped: bool, statements: str = "") -> str:
    """The invariants of the whole ledger, or (``scoped``) of the periods ``:periods`` only."""
    return _SCOPED_SQL.format(where=_IN_PERIODS if scoped else "", charges=_STATEMENT_CHARGES, statements=statements)


INVARIANTS_SQL = invariants_sql(False) + "UNION ALL" + _GLOBAL_SQL

# Checked by default instead of the sealed periods' entries, in a few index probes per period: that
# their seal stands (the triggers in place and enabled, the period still closed) and that their
# entries still start and end at the ids they had when sealed.
_SEALS_SQL = """
SELECT 'sealed_entries_changed', format('period %s: entries %s..%s (sealed: %s..%s)', cp.period_id, l.first, l.last,
       cp.first_entry_id, cp.last_entry_id)
  FROM ledger_checkpoints cp
  CROSS JOIN LATERAL (SELECT min(id) AS first, max(id) AS last FROM ledger_entries WHERE period_id = cp.period_id) l
 WHERE l.first IS DISTINCT FROM cp.first_entry_id OR l.last IS DISTINCT FROM cp.last_entry_id
UNION ALL
SELECT 'sealed_period_open', format('period %s', cp.period_id)
  FROM ledger_checkpoints cp JOIN funding_periods p ON p.id = cp.period_id WHERE p.status <> 'CLOSED'
UNION ALL
SELECT 'seal_missing', format('trigger %s on %s', t.name, t.tab)
  FROM (VALUES ('ledger_entries_sealed', 'ledger_entries'), ('balances_sealed', 'balances'),
               ('ledger_checkpoints_fixed', 'ledger_checkpoints')) t(name, tab)
 WHERE NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = t.name AND tgrelid = to_regclass(t.tab)
                      AND tgenabled <> 'D')
"""
# A digest of a period's entries: every column of every entry, hashed and summed (order-free, no
# string of the whole period in memory; rendered the same under any session setting).
_DIGEST = """coalesce(sum(('x' || left(md5(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', id, kind, certificate_id,
    enrollment_id, month - date '2000-01-01', completeness, amount, debit_account, credit_account, description,
    idempotency_key, actor, extract(epoch FROM created_at))), 15))::bit(60)::bigint), 0)::text"""
# Checked by ``--full`` on top of the whole ledger's invariants: every sealed period's entries, balances
# and enrollments add up to their checkpoint, and its entries hash as at the seal.
_SEALED_IN_FULL_SQL = f"""
SELECT 'sealed_entries_changed', format('period %s: %s entries, %s kopecks, digest %s (sealed: %s, %s, %s)',
       cp.period_id, coalesce(l.n, 0), coalesce(l.total, 0), coalesce(l.digest, '0'), cp.entries, cp.total, cp.digest)
  FROM ledger_checkpoints cp
  LEFT JOIN (SELECT period_id, count(*) AS n, sum(amount) AS total, {_DIGEST} AS digest FROM ledger_entries
              WHERE period_id IN (SELECT period_id FROM ledger_checkpoints) GROUP BY period_id) l
    ON l.period_id = cp.period_id
 WHERE (coalesce(l.n, 0), coalesce(l.total, 0), coalesce(l.digest, '0')) <> (cp.entries, cp.total, cp.digest)
UNION ALL
SELECT 'sealed_balances_changed', format('period %s', cp.period_id)
  FROM ledger_checkpoints cp
  LEFT JOIN (SELECT period_id, count(*) AS n, sum(credited) AS credited, sum(reserved) AS reserved, sum(spent) AS spent,
                    sum(expired) AS expired, sum(carried) AS carried
               FROM balances WHERE period_id IN (SELECT period_id FROM ledger_checkpoints) GROUP BY period_id) b
    ON b.period_id = cp.period_id
 WHERE (coalesce(b.n, 0), coalesce(b.credited, 0), coalesce(b.reserved, 0), coalesce(b.spent, 0),
        coalesce(b.expired, 0), coalesce(b.carried, 0))
       <> (cp.balance_rows, cp.credited, cp.reserved, cp.spent, cp.expired, cp.carried)
UNION ALL
SELECT 'sealed_enrollments_changed', format('period %s', cp.period_id)
  FROM ledger_checkpoints cp
  LEFT JOIN (SELECT period_id, sum(reserved) AS reserved, sum(charged) AS charged FROM enrollments
              WHERE period_id IN (SELECT period_id FROM ledger_checkpoints) GROUP BY period_id) e
    ON e.period_id = cp.period_id
 WHERE (coalesce(e.reserved, 0), coalesce(e.charged, 0)) <> (cp.enrollment_reserved, cp.enrollment_charged)
"""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    period_id: int
    entries: int  # of the period
    violations: list[tuple[str, str]]  # found by its check: then it is not sealed
    seconds: float

    @property
    def sealed(self) -> bool:
        return not self.violations


async def seal_period(conn: AsyncConnection, period_id: int) -> Checkpoint:
    """Check a closed period's ledger in full and, when it holds, seal it (a ``ledger_checkpoints``
    row): from then on its entries and balances cannot change, and ``ledger check`` verifies them
    against the checkpoint instead of adding them up again. The last write of the period's close (the
    caller holds the period's gate exclusively, so nothing moves in it meanwhile).

    A period whose check finds violations is left unsealed (so that it can still be repaired), and
    every ``ledger check`` goes on checking it in full and reporting them.
    """
    started = time.perf_counter()
    params = {"periods": [period_id], "p": period_id}
    statements = f" AND EXISTS (SELECT 1 FROM funding_periods fp WHERE {_OVERLAPS_MONTH} AND fp.id = :p)"
    violations = [(str(r[0]), str(r[1])) for r in await conn.execute(text(invariants_sql(True, statements)), params)]
    if violations:
        count = await conn.execute(text("SELECT count(*) FROM ledger_entries WHERE period_id = :p"), params)
        return Checkpoint(period_id, int(count.scalar_one()), violations, time.perf_counter() - started)
    row = await conn.execute(
        text(
            f"""
INSERT INTO ledger_checkpoints (period_id, entries, first_entry_id, last_entry_id, total, amounts, digest,
       balance_rows, credited, reserved, spent, expired, carried, enrollment_reserved, enrollment_charged, statements,
       seconds)
SELECT :p, l.n, l.first, l.last, l.total, l.amounts, l.digest, b.n, b.credited, b.reserved, b.spent, b.expired, b.carried,
       e.reserved, e.charged, st.totals, CAST(:seconds AS double precision)
  FROM (SELECT count(*) AS n, min(id) AS first, max(id) AS last, coalesce(sum(amount), 0) AS total,
               {_DIGEST} AS digest,
               (SELECT coalesce(jsonb_object_agg(kind, s), '{{}}') FROM (SELECT kind, sum(amount) AS s
                  FROM ledger_entries WHERE period_id = :p GROUP BY kind) k) AS amounts
          FROM ledger_entries WHERE period_id = :p) l,
       (SELECT count(*) AS n, coalesce(sum(credited), 0) AS credited, coalesce(sum(reserved), 0) AS reserved,
               coalesce(sum(spent), 0) AS spent, coalesce(sum(expired), 0) AS expired,
               coalesce(sum(carried), 0) AS carried FROM balances WHERE period_id = :p) b,
       (SELECT coalesce(sum(reserved), 0) AS reserved, coalesce(sum(charged), 0) AS charged
          FROM enrollments WHERE period_id = :p) e,
       (SELECT coalesce(jsonb_object_agg(s.id::text, s.total::text), '{{}}') AS totals
          FROM settlement_statements s
          LEFT JOIN LATERAL ({_STATEMENT_CHARGES}) c ON true
         WHERE s.status = 'ISSUED' AND s.total = coalesce(c.charged, 0){statements}) st
RETURNING entries"""
        ),
        {**params, "seconds": time.perf_counter() - started},
    )
    return Checkpoint(period_id, int(row.scalar_one()), [], time.perf_counter() - started)


async def seal_closed_periods(conn: AsyncConnection) -> list[Checkpoint]:
    """Check every closed period that has no checkpoint yet (closed before migration 0100, or found
    wrong at its close) and seal those that hold, oldest first, each under its gate; the caller
    commits."""
    from pdo_graph.domain.periods import GATE_CLASS  # periods imports this module

    done = []
    ids = await conn.execute(
        text(
            "SELECT p.id FROM funding_periods p WHERE p.status = 'CLOSED'"
            " AND NOT EXISTS (SELECT 1 FROM ledger_checkpoints cp WHERE cp.period_id = p.id) ORDER BY p.ends_on, p.id"
        )
    )
    for pid in [int(i) for i in ids.scalars()]:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:cls, CAST(:p AS int))"), {"cls": GATE_CLASS, "p": pid})
        done.append(await seal_period(conn, pid))
    return done


async def check_invariants(conn: AsyncConnection, full: bool = True) -> list[tuple[str, str]]:
    """Every violation of the ledger's invariants; an empty list means all hold.

    ``full``: every entry of every period is added up again, and every sealed period's entries,
    balances and enrollments are compared with its checkpoint (counts, sums, the entries' digest).
    Else (the default) the periods without a checkpoint (the open ones) are checked in full, the
    sealed ones by their seal (triggers in place, the first and last entry ids as sealed: a few index
    probes), the statements their seals did not verify against the ledger, and the invariants that
    are not a period's. Run it in one snapshot (REPEATABLE READ) when
    the database is live: it is several statements.
    """
    # the aggregations of the check in memory, not spilled to disk (this session only)
    await conn.execute(text("SET LOCAL work_mem = '256MB'"))
    if full:
        sql = INVARIANTS_SQL + "UNION ALL" + _SEALS_SQL + "UNION ALL" + _SEALED_IN_FULL_SQL
        rows = (await conn.execute(text(sql))).all()
    else:
        unsealed = (
            await conn.execute(
                text(
                    "SELECT id FROM funding_periods p"
                    " WHERE NOT EXISTS (SELECT 1 FROM ledger_checkpoints cp WHERE cp.period_id = p.id)"
                )
            )
        ).scalars()
        sql = invariants_sql(True, _NOT_SEALED_STATEMENT) + "UNION ALL" + _GLOBAL_SQL + "UNION ALL" + _SEALS_SQL
        rows = (await conn.execute(text(sql), {"periods": [int(i) for i in unsealed]})).all()
    return [(str(r[0]), str(r[1])) for r in rows]
