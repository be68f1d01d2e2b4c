"""Every measure recomputed in Python from the raw rows (certificates, fundings, contracts, ledger
entries, reports): a second implementation of docs/analytics.md, independent of the refresh SQL.

``Facts`` holds, per measure, one record per (child, cell, month) contribution: the dimensions of
the finest cell, the child, the figure and its weight. ``expected_table`` aggregates them the way a
table is defined (flows summed over the range, stocks at its last month, distinct children for the
child counts) and formats the figures like the API.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import combinations
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from pdo_graph.domain.money import add_months, format_amount
from pdo_graph.domain.people import age_on

MSK = ZoneInfo("Europe/Moscow")
DIMS = ("MUNICIPALITY", "DIRECTION", "MONTH", "AGE", "FUNDING_KIND", "PROVIDER")
STOCKS = {"FUNDED_CERTIFICATES", "QUEUED_CERTIFICATES", "CHILDREN_ENROLLED", "RESERVED"}
DISTINCT = {"CHILDREN_ENROLLED", "FUNDED_CERTIFICATES", "QUEUED_CERTIFICATES", "CERTIFICATES"}
MONEY = {"CREDITED", "RESERVED", "SPENT", "EXPIRED"}


def month_of(ts: datetime) -> date:
    return ts.astimezone(MSK).date().replace(day=1)


def months(first: date, last: date) -> list[date]:
    out = []
    m = first
    while m <= last:
        out.append(m)
        m = add_months(m, 1)
    return out


@dataclass(frozen=True)
class Fact:
    municipality: str
    direction: str | None
    month: date
    age: int
    kind: str | None
    provider: str | None
    child: int
    value: int
    weight: int = 0

    def dim(self, d: str) -> Any:
        return {
            "MUNICIPALITY": self.municipality,
            "DIRECTION": self.direction,
            "MONTH": self.month,
            "AGE": self.age,
            "FUNDING_KIND": self.kind,
            "PROVIDER": self.provider,
        }[d]


@dataclass
class Facts:
    as_of_month: date
    by_measure: dict[str, list[Fact]] = field(default_factory=lambda: defaultdict(list))


async def load_facts(conn: Any, as_of_month: date) -> Facts:
    """Read the raw rows and derive every measure's facts."""

    async def rows(sql: str) -> list[Any]:
        return list((await conn.execute(text(sql))).all())

    birth = {r.id: r.birth_date for r in await rows("SELECT id, birth_date FROM children")}
    certs = {r.id: r for r in await rows("SELECT id, child_id, municipality, issued_on FROM certificates")}
    contracts = {
        r.id: r
        for r in await rows(
            "SELECT e.id, e.child_id, e.certificate_id, e.status, e.first_month, e.months, e.decided_at, e.ended_at,"
            " p.direction, p.funding_kind, pv.inn FROM enrollments e JOIN groups g ON g.id = e.group_id"
            " JOIN programs p ON p.id = g.program_id JOIN providers pv ON pv.id = p.provider_id"
        )
    }
    facts = Facts(as_of_month)
    add = facts.by_measure

    def cert_fact(measure: str, cid: int, month: date, value: int = 1, weight: int = 0) -> None:
        c = certs[cid]
        add[measure].append(
            Fact(c.municipality, None, month, age_on(birth[c.child_id], month), None, None, c.child_id, value, weight)
        )

    def contract_fact(measure: str, eid: int, month: date, value: int = 1, weight: int = 0) -> None:
        e = contracts[eid]
        c = certs[e.certificate_id]
        add[measure].append(
            Fact(
                c.municipality,
                e.direction,
                month,
                age_on(birth[e.child_id], month),
                e.funding_kind,
                e.inn,
                e.child_id,
                value,
                weight,
            )
        )

    for c in certs.values():
        cert_fact("CERTIFICATES", c.id, c.issued_on.replace(day=1))
    for f in await rows(
        "SELECT f.certificate_id, f.status, f.created_at, f.funded_at, p.starts_on, p.ends_on, p.closed_at"
        " FROM period_fundings f JOIN funding_periods p ON p.id = f.period_id"
    ):
        until = min(f.ends_on.replace(day=1), as_of_month)
        if f.closed_at is not None:
            until = min(until, month_of(f.closed_at))
        start = f.starts_on.replace(day=1)
        if f.status == "FUNDED":
            for m in months(max(start, month_of(f.funded_at)), until):
                cert_fact("FUNDED_CERTIFICATES", f.certificate_id, m)
        queued_until = until if f.status == "QUEUED" else min(until, add_months(month_of(f.funded_at), -1))
        for m in months(max(start, month_of(f.created_at)), queued_until):
            cert_fact("QUEUED_CERTIFICATES", f.certificate_id, m)
    for e in contracts.values():
        if e.decided_at is None or e.status not in ("ACTIVE", "COMPLETED", "TERMINATED"):
            continue
        contract_fact("ENROLLMENTS", e.id, month_of(e.decided_at))
        last = min(add_months(e.first_month, e.months - 1), as_of_month)
        if e.ended_at is not None:
            last = min(last, month_of(e.ended_at))
        for m in months(e.first_month, last):
            contract_fact("CHILDREN_ENROLLED", e.id, m)
    entries = await rows(
        "SELECT kind, certificate_id, enrollment_id, month, amount, created_at FROM ledger_entries ORDER BY id"
    )
    moves: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for entry in entries:
        posted = month_of(entry.created_at)
        if entry.kind == "CREDIT":
            cert_fact("CREDITED", entry.certificate_id, posted, entry.amount)
        elif entry.kind == "EXPIRE":
            cert_fact("EXPIRED", entry.certificate_id, posted, entry.amount)
        elif entry.kind == "CHARGE":
            contract_fact("SPENT", entry.enrollment_id, entry.month, entry.amount)
        if entry.kind in ("RESERVE", "RELEASE", "CHARGE") and entry.enrollment_id is not None:
            moves[entry.enrollment_id][posted] += entry.amount if entry.kind == "RESERVE" else -entry.amount
    for eid, by_month in moves.items():
        outstanding = 0
        for m in months(min(by_month), as_of_month):
            outstanding += by_month.get(m, 0)
            if outstanding > 0:
                contract_fact("RESERVED", eid, m, outstanding)
    for r in await rows("SELECT enrollment_id, month, completeness FROM provision_reports"):
        contract_fact("AVERAGE_COMPLETENESS", r.enrollment_id, r.month, r.completeness, 1)
    return facts


def show_dim(d: str, value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


@dataclass
class Cell:
    value: int = 0
    weight: int = 0
    children: set[int] = field(default_factory=set)


def expected_cells(
    facts: Facts,
    measure: str,
    by: tuple[str, ...],
    start: date,
    end: date,
    municipality: str | None = None,
    direction: str | None = None,
) -> dict[tuple[Any, ...], Cell]:
    """Every level's cells of one measure, keyed like an API row's dimension values (None: total)."""
    out: dict[tuple[Any, ...], Cell] = {}
    stock = measure in STOCKS
    for level in (c for k in range(len(by) + 1) for c in combinations(by, k)):
        cells: dict[tuple[Any, ...], Cell] = defaultdict(Cell)
        for f in facts.by_measure.get(measure, []):
            if municipality is not None and f.municipality != municipality:
                continue
            if direction is not None and f.direction != direction:
                continue
            if stock and "MONTH" not in level:
                if f.month != end:
                    continue
            elif not start <= f.month <= end:
                continue
            key = tuple(show_dim(d, f.dim(d)) if d in level else None for d in by)
            cell = cells[key]
            cell.value += f.value
            cell.weight += f.weight
            cell.children.add(f.child)
        out.update(cells)
    return out


def figure(measure: str, cell: Cell | None) -> str | None:
    if measure == "AVERAGE_COMPLETENESS":
        if cell is None or cell.weight == 0:
            return None
        tenths = (20 * cell.value + cell.weight) // (2 * cell.weight)
        return f"{tenths // 10}.{tenths % 10}"
    if cell is None:
        return "0" if measure not in MONEY else "0.00"
    value = len(cell.children) if measure in DISTINCT else cell.value
    return format_amount(value) if measure in MONEY else str(value)
