"""Reads of the families' side: children, certificates, applications, balances and transactions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from pdo_graph.domain.periods import CURRENT_PERIOD_ORDER
from pdo_graph.reads.base import Along, Key, Page, Scope, counts_by_owner, many_by_key, one_by_key, pages_by_owner

# --- rows -----------------------------------------------------------------------------------------


class ChildRow(Protocol):
    id: int
    full_name: str
    birth_date: date
    snils_sealed: str | None
    municipality: str
    guardian_id: int
    guardian_subject: str


class CertificateRow(Protocol):
    id: int
    number: str
    uuid: UUID
    status: str
    valid_until: date
    issued_on: date
    child_id: int
    municipality: str
    guardian_subject: str


class ApplicationRow(Protocol):
    id: int
    status: str
    child_id: int
    municipality: str
    created_at: datetime
    guardian_subject: str
    rejection_reason: str | None


class BalanceRow(Protocol):
    """A certificate's balance in its municipality's current period (no row without one; zeros
    before the certificate is credited in it)."""

    certificate_id: int
    period_id: int
    cap_at_normative: bool  # the period caps what a certificate pays at the normative cost
    credited: int
    reserved: int
    spent: int
    expired: int
    carried: int
    available: int


class PeriodBalanceRow(Protocol):
    """A certificate's balance in one period."""

    certificate_id: int
    period_id: int
    credited: int
    reserved: int
    spent: int
    expired: int
    carried: int
    available: int


class FundingRow(Protocol):
    certificate_id: int
    status: str | None  # FUNDED, QUEUED; None: not funded in the current period
    amount: int | None
    position: int | None


class TransactionRow(Protocol):
    id: int
    kind: str
    amount: int
    created_at: datetime
    enrollment_id: int | None
    description: str
    month: date | None
    completeness: int | None
    certificate_id: int
    period_id: int


# --- SQL ------------------------------------------------------------------------------------------

CHILD_SQL = (
    "SELECT ch.id, ch.full_name, ch.birth_date, ch.snils_sealed, ch.municipality, ch.guardian_id,"
    " g.subject AS guardian_subject"
    " FROM children ch JOIN guardians g ON g.id = ch.guardian_id"
)
CERTIFICATE_SQL = (
    "SELECT c.id, c.number, c.uuid, c.status, c.valid_until, c.issued_on, c.child_id, c.municipality,"
    " g.subject AS guardian_subject"
    " FROM certificates c JOIN children ch ON ch.id = c.child_id JOIN guardians g ON g.id = ch.guardian_id"
)
APPLICATION_SQL = (
    "SELECT a.id, a.status, a.child_id, a.municipality, a.created_at, g.subject AS guardian_subject,"
    " a.rejection_reason FROM certificate_applications a JOIN guardians g ON g.id = a.guardian_id"
)
# the current period of each certificate's municipality (joined as ``p``), by certificate
_CURRENT_PERIOD_OF_CERTIFICATE = (
    " FROM certificates c JOIN funding_periods p ON p.municipality = c.municipality AND p.status = 'OPEN'"
)
_BY_CERTIFICATE = f" WHERE c.id = ANY(:keys) ORDER BY c.id, {CURRENT_PERIOD_ORDER}"
TRANSACTION_SQL = (
    "SELECT r.id, r.kind, r.amount, r.created_at, r.enrollment_id, r.description, r.month, r.completeness,"
    " r.certificate_id, r.period_id FROM ledger_entries r"
)

# --- keys -----------------------------------------------------------------------------------------

CHILD: Key[int, ChildRow | None] = one_by_key("child", CHILD_SQL + " WHERE ch.id = ANY(:keys)", ChildRow)
CHILDREN_OF_GUARDIAN: Key[str, list[ChildRow]] = many_by_key(
    "children_of_guardian",
    CHILD_SQL + " WHERE g.subject = ANY(:keys) ORDER BY ch.id",
    ChildRow,
    key="guardian_subject",
)
CERTIFICATE: Key[int, CertificateRow | None] = one_by_key(
    "certificate", CERTIFICATE_SQL + " WHERE c.id = ANY(:keys)", CertificateRow
)
CERTIFICATE_OF_CHILD: Key[int, CertificateRow | None] = one_by_key(
    "certificate_of_child", CERTIFICATE_SQL + " WHERE c.child_id = ANY(:keys)", CertificateRow, key="child_id"
)
APPLICATION: Key[int, ApplicationRow | None] = one_by_key(
    "application", APPLICATION_SQL + " WHERE a.id = ANY(:keys)", ApplicationRow
)
APPLICATIONS_OF_GUARDIAN: Key[str, list[ApplicationRow]] = many_by_key(
    "applications_of_guardian",
    APPLICATION_SQL + " WHERE g.subject = ANY(:keys) ORDER BY a.id",
    ApplicationRow,
    key="guardian_subject",
)
BALANCE: Key[int, BalanceRow | None] = one_by_key(
    "balance",
    "SELECT DISTINCT ON (c.id) c.id AS certificate_id, p.id AS period_id, p.cap_at_normative,"
    " coalesce(b.credited, 0) AS credited, coalesce(b.reserved, 0) AS reserved,"
    " coalesce(b.spent, 0) AS spent, coalesce(b.expired, 0) AS expired, coalesce(b.carried, 0) AS carried,"
    " coalesce(b.available, 0) AS available"
    + _CURRENT_PERIOD_OF_CERTIFICATE
    + " LEFT JOIN balances b ON b.certificate_id = c.id AND b.period_id = p.id"
    + _BY_CERTIFICATE,
    BalanceRow,
    key="certificate_id",
)
BALANCES_OF_CERTIFICATE: Key[int, list[PeriodBalanceRow]] = many_by_key(
    "balances_of_certificate",
    "SELECT b.certificate_id, b.period_id, b.credited, b.reserved, b.spent, b.expired, b.carried, b.available"
    " FROM balances b JOIN funding_periods p ON p.id = b.period_id"
    " WHERE b.certificate_id = ANY(:keys) ORDER BY b.certificate_id, p.starts_on DESC, p.id DESC",
    PeriodBalanceRow,
    key="certificate_id",
)
FUNDING: Key[int, FundingRow | None] = one_by_key(
    "funding",
    "SELECT DISTINCT ON (c.id) c.id AS certificate_id, f.status, f.amount,"
    " CASE WHEN f.status = 'QUEUED' THEN (SELECT count(*) FROM period_fundings q"
    "   WHERE q.period_id = f.period_id AND q.status = 'QUEUED' AND q.queue_no <= f.queue_no) END AS position"
    + _CURRENT_PERIOD_OF_CERTIFICATE
    + " LEFT JOIN period_fundings f ON f.certificate_id = c.id AND f.period_id = p.id"
    + _BY_CERTIFICATE,
    FundingRow,
    key="certificate_id",
)
# the dashboard's first level: the children with their certificates and balances, one statement
CHILDREN_OF_GUARDIAN_WITH_CERTIFICATES: Key[str, list[ChildRow]] = many_by_key(
    "children_of_guardian_with_certificates",
    CHILD_SQL + " WHERE g.subject = ANY(:keys)",
    ChildRow,
    key="guardian_subject",
    along=(
        Along(CERTIFICATE_OF_CHILD, "o.id"),
        Along(BALANCE, "(SELECT c.id FROM certificates c WHERE c.child_id = o.id)"),
    ),
    order="o.guardian_subject, o.id",
)
TRANSACTION: Key[int, TransactionRow | None] = one_by_key(
    "transaction", TRANSACTION_SQL + " WHERE r.id = ANY(:keys)", TransactionRow
)
TRANSACTIONS_OF_CERTIFICATE: Key[Page, list[TransactionRow]] = pages_by_owner(
    "transactions_of_certificate", TRANSACTION_SQL, "r.certificate_id"
)
TRANSACTION_COUNT: Key[int, int] = counts_by_owner("transaction_count", "ledger_entries", "certificate_id")

# --- root reads -----------------------------------------------------------------------------------


_QUEUE_WHERE = (
    " WHERE a.municipality = :m AND (CAST(:status AS text) IS NULL OR a.status = :status)"
    " AND (CAST(:search AS text) IS NULL OR a.child_id IN"
    " (SELECT ch.id FROM children ch WHERE strpos(lower(translate(ch.full_name, 'Ёё', 'Ее')), :search) > 0))"
)


async def application_queue(
    scope: Scope, municipality: str, status: str | None, search: str | None, after: int | None, limit: int
) -> tuple[list[ApplicationRow], int]:
    """The verification queue of a municipality, oldest first (keyset on the id, which grows with the
    time of application), filtered by status and by a part of the child's name (``search``: lower
    case, ё as е); and how many match in all."""
    params = {"m": municipality, "status": status, "search": search, "after": after, "limit": limit}
    rows: list[ApplicationRow] = await scope.rows(
        APPLICATION_SQL + _QUEUE_WHERE + " AND (CAST(:after AS bigint) IS NULL OR a.id > :after)"
        " ORDER BY a.id LIMIT :limit",
        params,
    )
    total = await scope.fetch("SELECT count(*) AS n FROM certificate_applications a" + _QUEUE_WHERE, params)
    return rows, int(total[0].n)


async def certificate_id_by_number(scope: Scope, number: str) -> int | None:
    rows = await scope.fetch("SELECT id FROM certificates WHERE number = :n", {"n": number})
    return int(rows[0].id) if rows else None
