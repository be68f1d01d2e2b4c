"""Reads of the enrollment area: enrollments (one, a child's pages, a provider's queue) and their
monthly charges."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

from strawberry.dataloader import DataLoader

from pdo_graph.reads.base import Along, Key, Loader, Page, Scope, many_by_key, one_by_key, prime_along, with_along
from pdo_graph.reads.catalog import GROUP, PROGRAM, PROVIDER
from pdo_graph.reads.family import TRANSACTION_SQL, TransactionRow

# --- rows -----------------------------------------------------------------------------------------


class EnrollmentRow(Protocol):
    id: int
    certificate_id: int
    child_id: int
    group_id: int
    period_id: int
    status: str
    price: int
    from_certificate: int
    from_family: int
    first_month: date
    months: int
    reserved: int
    charged: int
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    guardian_subject: str
    municipality: str  # the child's
    provider_id: int  # the group's
    contract_number: str


class ChildEnrollmentRow(EnrollmentRow, Protocol):
    total: int  # how many enrollments the child has


# --- SQL ------------------------------------------------------------------------------------------

ENROLLMENT_SQL = (
    "SELECT e.id, e.certificate_id, e.child_id, e.group_id, e.period_id, e.status, e.price, e.from_certificate,"
    " e.from_family, e.first_month, e.months, e.reserved, e.charged, e.reason, e.created_at, e.decided_at,"
    " gu.subject AS guardian_subject, ch.municipality, p.provider_id, e.contract_number"
    " FROM enrollments e JOIN guardians gu ON gu.id = e.guardian_id JOIN children ch ON ch.id = e.child_id"
    " JOIN groups g ON g.id = e.group_id JOIN programs p ON p.id = g.program_id"
)
CHILD_ENROLLMENTS_SQL = (
    "SELECT q.* FROM (SELECT s.*, row_number() OVER (PARTITION BY s.child_id ORDER BY s.id DESC) AS rn,"
    " (SELECT count(*) FROM enrollments x WHERE x.child_id = s.child_id) AS total FROM ("
    + ENROLLMENT_SQL
    + " WHERE e.child_id = ANY(:keys) AND (CAST(:after AS bigint) IS NULL OR e.id < :after)) s) q"
    " WHERE q.rn <= :limit ORDER BY q.child_id, q.id DESC"
)

# --- keys -----------------------------------------------------------------------------------------

ENROLLMENT: Key[int, EnrollmentRow | None] = one_by_key(
    "enrollment", ENROLLMENT_SQL + " WHERE e.id = ANY(:keys)", EnrollmentRow
)
ENROLLMENT_CHARGES: Key[int, list[TransactionRow]] = many_by_key(
    "enrollment_charges",
    TRANSACTION_SQL
    + " WHERE r.enrollment_id = ANY(:keys) AND r.kind = 'CHARGE' ORDER BY r.enrollment_id, r.month, r.id",
    TransactionRow,
    key="enrollment_id",
)


def _child_pages(along: tuple[Along, ...] = ()) -> Callable[[Scope], DataLoader[Page, list[ChildEnrollmentRow]]]:
    """Pages (child, first, after id) of several children's enrollments: one statement per (first, after);
    with ``along``, the rows of those keys too."""
    sql = with_along(CHILD_ENROLLMENTS_SQL, along, "o.child_id, o.id DESC") if along else CHILD_ENROLLMENTS_SQL

    def build(scope: Scope) -> DataLoader[Page, list[ChildEnrollmentRow]]:
        async def load(keys: list[Page]) -> list[list[ChildEnrollmentRow]]:
            pages: dict[Page, list[Any]] = {k: [] for k in keys}
            by_args: dict[tuple[int, int | None], list[int]] = defaultdict(list)
            for child, first, after in keys:
                by_args[(first, after)].append(child)
            for (first, after), children in by_args.items():
                params = {"keys": children, "after": after, "limit": first + 1, "today": scope.today}
                rows = await scope.fetch(sql, params, generic=True)
                prime_along(scope, along, rows)
                for r in rows:
                    pages[(r.child_id, first, after)].append(r)
            return [pages[k] for k in keys]

        return Loader(load_fn=load)

    return build


CHILD_ENROLLMENTS: Key[Page, list[ChildEnrollmentRow]] = Key("child_enrollments", _child_pages())
# the same pages with each enrollment's group, program and provider (the dashboard's last levels)
CHILD_ENROLLMENTS_WITH_CATALOG: Key[Page, list[ChildEnrollmentRow]] = Key(
    "child_enrollments_with_catalog",
    _child_pages(
        (
            Along(GROUP, "o.group_id"),
            Along(PROGRAM, "(SELECT g.program_id FROM groups g WHERE g.id = o.group_id)"),
            Along(PROVIDER, "o.provider_id"),
        )
    ),
)

# --- root reads -----------------------------------------------------------------------------------


async def count_child_enrollments(scope: Scope, child_id: int) -> int:
    return int((await scope.fetch("SELECT count(*) FROM enrollments WHERE child_id = :c", {"c": child_id}))[0][0])


async def provider_enrollments(
    scope: Scope, provider_id: int, status: str | None, group_id: int | None, after: int | None, limit: int
) -> tuple[list[EnrollmentRow], int]:
    """A provider's applications and contracts, oldest first (the queue order): a page and the total."""
    where = (
        " WHERE p.provider_id = :pid AND (CAST(:status AS text) IS NULL OR e.status = :status)"
        " AND (CAST(:group AS bigint) IS NULL OR e.group_id = :group)"
    )
    params = {"pid": provider_id, "status": status, "group": group_id, "after": after, "limit": limit}
    rows: list[EnrollmentRow] = await scope.rows(
        ENROLLMENT_SQL + where + " AND (CAST(:after AS bigint) IS NULL OR e.id > :after) ORDER BY e.id LIMIT :limit",
        params,
    )
    total = await scope.fetch(
        "SELECT count(*) FROM enrollments e JOIN groups g ON g.id = e.group_id"
        " JOIN programs p ON p.id = g.program_id" + where,
        params,
    )
    return rows, int(total[0][0])
