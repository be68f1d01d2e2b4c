"""Settlement to the payer: monthly statements (акт) per payer municipality × provider × month.

A charge is owed by the municipality whose period funded it (the period of its ledger entry), not
by the provider's municipality. A statement row is created (``DRAFT``) with the first charge of its
payer, provider and month (:func:`record_charges`, called by the provision report); its lines are
the month's ``CHARGE`` entries of that payer and provider, one per contract, so its figures always
equal the ledger. The operator of the payer issues it (:func:`issue`) once the month can no longer
be reported: it is then ``ISSUED``, frozen (its total kept; ``pdo-graph ledger check`` compares it
with the ledger) and numbered ``<year>-<payer>-<5-digit serial>``, the serial counting per payer
and year of the month. The CSV export (:func:`to_csv`) is what an accountant opens in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.access import Actor, Role, require_operator_of
from pdo_graph.domain.enrollment.terms import reportable
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.domain.money import format_amount, month_start

STATEMENT = ["statementId"]

# The lines of statements (aliased ``s``: payer, provider_id, month): the CHARGE entries of the
# payer's periods for contracts with the provider's groups, in that month.
LINES_FROM = """
  FROM ledger_entries le
  JOIN funding_periods fp ON fp.id = le.period_id
  JOIN enrollments en ON en.id = le.enrollment_id
  JOIN groups g ON g.id = en.group_id
  JOIN programs pg ON pg.id = g.program_id
  JOIN certificates c ON c.id = le.certificate_id
 WHERE le.kind = 'CHARGE' AND le.month = s.month AND fp.municipality = s.payer AND pg.provider_id = s.provider_id
"""
# (the statement's id, then each line's columns, in certificate order)
LINES_SQL = (
    "SELECT s.id AS statement_id, l.enrollment_id, l.certificate_number, l.group_name, l.program_title,"
    " l.completeness, l.amount FROM settlement_statements s CROSS JOIN LATERAL ("
    "SELECT le.enrollment_id, c.number AS certificate_number, g.name AS group_name, pg.title AS program_title,"
    " le.completeness, le.amount" + LINES_FROM + ") l"
)
LINES_ORDER = " ORDER BY s.id, l.certificate_number, l.enrollment_id"
# a statement's total and line count now (the ledger's), for a DRAFT; an ISSUED one keeps its own
TOTALS_SQL = (
    "SELECT s.id, coalesce(t.total, 0) AS total, coalesce(t.lines, 0) AS lines FROM settlement_statements s"
    " LEFT JOIN LATERAL (SELECT sum(le.amount) AS total, count(*) AS lines" + LINES_FROM + ") t ON true"
)


@dataclass(frozen=True, slots=True)
class Line:
    enrollment_id: int
    certificate_number: str
    group_name: str
    program_title: str
    completeness: int
    amount: int


@dataclass(frozen=True, slots=True)
class Statement:
    id: int
    number: str | None
    status: str
    month: date
    payer: str
    payer_name: str
    provider_id: int
    provider_name: str
    provider_inn: str
    total: int
    lines: Sequence[Line]


async def record_charges(conn: AsyncConnection, provider_id: int, month: date, period_ids: Iterable[int]) -> None:
    """The month's statements of the provider with the payers of these periods exist (DRAFT)."""
    await conn.execute(
        text(
            "INSERT INTO settlement_statements (payer, provider_id, month)"
            " SELECT DISTINCT municipality, CAST(:pid AS bigint), CAST(:m AS date) FROM funding_periods WHERE id = ANY(:ids)"
            " ORDER BY 1 ON CONFLICT DO NOTHING"
        ),
        {"pid": provider_id, "m": month, "ids": sorted(set(period_ids))},
    )


def statement_scope(actor: Actor, municipality: str | None) -> tuple[str | None, int | None]:
    """(payer, provider) whose statements the caller lists: an operator its own municipality as the
    payer (another municipality: FORBIDDEN), a provider its own statements as the payee (of any payer,
    or of ``municipality``)."""
    if actor.role is Role.OPERATOR:
        if municipality is not None and municipality != actor.municipality:
            raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden", ["municipality"])
        return actor.municipality, None
    if actor.role is Role.PROVIDER and actor.provider_id is not None:
        return municipality, actor.provider_id
    raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden")


async def issue(conn: AsyncConnection, actor: Actor, statement_id: int, today: date) -> int:
    """The operator of the payer freezes and numbers a statement; returns its id.

    Refused with INVALID_TRANSITION while its month can still be reported (its figures could still
    change) or once issued. The serial counts per payer and year of the month (one row, locked).
    """
    row = (
        await conn.execute(
            text("SELECT id, payer, month, status, number FROM settlement_statements WHERE id = :id FOR NO KEY UPDATE"),
            {"id": statement_id},
        )
    ).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", STATEMENT)
    require_operator_of(actor, row.payer, STATEMENT)
    if row.status == "ISSUED":
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "statement_issued", STATEMENT, number=row.number)
    if reportable(row.month, today) or row.month > month_start(today):
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION, "statement_month_open", STATEMENT, month=row.month.strftime("%m.%Y")
        )
    totals = (await conn.execute(text(TOTALS_SQL + " WHERE s.id = :id"), {"id": statement_id})).one()
    serial = (
        await conn.execute(
            text(
                "INSERT INTO settlement_serials (payer, year, last) VALUES (:p, :y, 1)"
                " ON CONFLICT (payer, year) DO UPDATE SET last = settlement_serials.last + 1 RETURNING last"
            ),
            {"p": row.payer, "y": row.month.year},
        )
    ).scalar_one()
    await conn.execute(
        text(
            "UPDATE settlement_statements SET status = 'ISSUED', number = :n, total = :t, lines = :l,"
            " issued_at = now(), issued_by = :by WHERE id = :id"
        ),
        {
            "n": statement_number(row.month.year, row.payer, int(serial)),
            "t": int(totals.total),
            "l": int(totals.lines),
            "by": actor.subject,
            "id": statement_id,
        },
    )
    return statement_id


def statement_number(year: int, payer: str, serial: int) -> str:
    return f"{year}-{payer}-{serial:05d}"


async def load_statement(conn: AsyncConnection, actor: Actor, statement_id: int) -> Statement:
    """A statement with its lines, for its payer's operator or its provider (else NOT_FOUND)."""
    row = (
        await conn.execute(
            text(
                "SELECT s.id, s.number, s.status, s.month, s.payer, m.name AS payer_name, s.provider_id,"
                " p.name AS provider_name, p.inn AS provider_inn, s.total FROM settlement_statements s"
                " JOIN municipalities m ON m.code = s.payer JOIN providers p ON p.id = s.provider_id WHERE s.id = :id"
            ),
            {"id": statement_id},
        )
    ).first()
    from pdo_graph.domain.access import can_read_statement

    if row is None or not can_read_statement(actor, row.payer, row.provider_id):
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", STATEMENT)
    lines = [
        Line(
            int(r.enrollment_id),
            r.certificate_number,
            r.group_name,
            r.program_title,
            int(r.completeness),
            int(r.amount),
        )
        for r in await conn.execute(text(LINES_SQL + " WHERE s.id = :id" + LINES_ORDER), {"id": statement_id})
    ]
    total = int(row.total) if row.status == "ISSUED" else sum(line.amount for line in lines)
    return Statement(
        row.id,
        row.number,
        row.status,
        row.month,
        row.payer,
        row.payer_name,
        row.provider_id,
        row.provider_name,
        row.provider_inn,
        total,
        lines,
    )


def link_payload(actor: Actor, statement_id: int, lang: str) -> dict[str, object]:
    """What a signed CSV link of a statement carries: the caller's rights and the statement."""
    return {**actor.link_rights(), "lang": lang, "statement": statement_id}


def from_link(payload: Mapping[str, Any]) -> tuple[Actor, int]:
    """The caller and the statement of a link's payload (``ValueError`` when it is malformed)."""
    return Actor.from_link(payload), int(payload["statement"])


def _roubles(kopecks: int) -> str:
    """Roubles with a decimal comma, as Russian spreadsheets read numbers: 1500,00."""
    return format_amount(kopecks).replace(".", ",")


def to_csv(statement: Statement) -> bytes:
    """UTF-8 with a BOM, ``;``-separated (a Russian spreadsheet opens it as is): a heading block,
    one row per contract (certificate number, program, group, completeness, kopecks, roubles) and
    the total."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(["Акт", statement.number or "черновик"])
    w.writerow(["Статус", statement.status])
    w.writerow(["Месяц", statement.month.strftime("%m.%Y")])
    w.writerow(["Плательщик", _cell(f"{statement.payer} {statement.payer_name}")])
    w.writerow(["Поставщик", _cell(statement.provider_name), f"ИНН {statement.provider_inn}"])
    w.writerow([])
    w.writerow(["Сертификат", "Программа", "Группа", "Договор", "Полнота, %", "Сумма, коп.", "Сумма, руб."])
    for line in statement.lines:
        w.writerow(
            [
                statement_text(line.certificate_number),
                _cell(line.program_title),
                _cell(line.group_name),
                line.enrollment_id,
                line.completeness,
                line.amount,
                _roubles(line.amount),
            ]
        )
    w.writerow(["Итого", "", "", "", "", statement.total, _roubles(statement.total)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def statement_text(value: str) -> str:
    """A cell a spreadsheet keeps as text (certificate numbers have leading zeros): ="0101000001"."""
    return f'="{value}"'


def _cell(value: str) -> str:
    """Text a spreadsheet never runs as a formula (a leading =, +, -, @ is quoted)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
