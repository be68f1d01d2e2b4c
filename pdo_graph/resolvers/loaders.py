"""DataLoaders for every relation, built per request; each batch is one SQL statement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from pdo_graph.domain.periods import CURRENT_PERIOD_ORDER

if TYPE_CHECKING:
    from pdo_graph.schema.context import Context


async def fetch(ctx: Context, sql: str, params: dict[str, Any]) -> Sequence[Row[Any]]:
    async def run(conn: AsyncConnection) -> Sequence[Row[Any]]:
        return (await conn.execute(text(sql), params)).all()

    return await ctx.db.read(run)


def one_by_key(ctx: Context, sql: str, key: str = "id") -> DataLoader[Any, Row[Any] | None]:
    """Loader of one row per key; ``sql`` filters with ``= ANY(:keys)``."""

    async def load(keys: list[Hashable]) -> list[Row[Any] | None]:
        rows = await fetch(ctx, sql, {"keys": list(keys), "today": ctx.today})
        by_key = {getattr(r, key): r for r in rows}
        return [by_key.get(k) for k in keys]

    return DataLoader(load_fn=load)


def many_by_key(ctx: Context, sql: str, key: str) -> DataLoader[Any, list[Row[Any]]]:
    """Loader of a list of rows per key (ordered as the SQL orders them)."""

    async def load(keys: list[Hashable]) -> list[list[Row[Any]]]:
        rows = await fetch(ctx, sql, {"keys": list(keys), "today": ctx.today})
        grouped: dict[Any, list[Row[Any]]] = defaultdict(list)
        for r in rows:
            grouped[getattr(r, key)].append(r)
        return [grouped.get(k, []) for k in keys]

    return DataLoader(load_fn=load)


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
    "SELECT a.id, a.status, a.child_id, a.municipality, a.created_at, g.subject AS guardian_subject"
    " FROM certificate_applications a JOIN guardians g ON g.id = a.guardian_id"
)
PERIOD_SQL = (
    "SELECT p.id, p.municipality, p.starts_on, p.ends_on, p.open_for_applications, p.status, p.proration,"
    " p.funded_limit FROM funding_periods p"
)


PROVIDER_SQL = "SELECT pr.id, pr.name, pr.inn, pr.municipality, pr.address FROM providers pr"
PROGRAM_SQL = (
    "SELECT p.id, p.provider_id, p.external_id, p.title, p.description, p.direction, p.min_age, p.max_age, p.hours,"
    " p.form, p.municipality, p.address, p.latitude, p.longitude, p.normative_cost, p.certified, p.archived,"
    " p.rating_sum, p.rating_count FROM programs p"
)
GROUP_SQL = (
    "SELECT g.id, g.program_id, g.external_id, g.name, g.starts_on, g.ends_on, g.schedule, g.capacity,"
    " g.seats_taken, g.price, g.enrollment_open, g.archived FROM groups g"
)
ENROLLMENT_SQL = (
    "SELECT e.id, e.certificate_id, e.child_id, e.group_id, e.period_id, e.status, e.price, e.from_certificate,"
    " e.from_family, e.first_month, e.months, e.reserved, e.charged, e.reason, e.created_at, e.decided_at,"
    " gu.subject AS guardian_subject, ch.municipality, p.provider_id"
    " FROM enrollments e JOIN guardians gu ON gu.id = e.guardian_id JOIN children ch ON ch.id = e.child_id"
    " JOIN groups g ON g.id = e.group_id JOIN programs p ON p.id = g.program_id"
)


CHARGES_SQL = (
    "SELECT l.id, l.kind, l.amount, l.created_at, l.enrollment_id, l.description, l.month, l.completeness"
    " FROM ledger_entries l WHERE l.enrollment_id = ANY(:keys) AND l.kind = 'CHARGE'"
    " ORDER BY l.enrollment_id, l.month, l.id"
)
CHILD_ENROLLMENTS_SQL = (
    "SELECT q.* FROM (SELECT s.*, row_number() OVER (PARTITION BY s.child_id ORDER BY s.id DESC) AS rn,"
    " (SELECT count(*) FROM enrollments x WHERE x.child_id = s.child_id) AS total FROM ("
    + ENROLLMENT_SQL
    + " WHERE e.child_id = ANY(:keys) AND (CAST(:after AS bigint) IS NULL OR e.id < :after)) s) q"
    " WHERE q.rn <= :limit ORDER BY q.child_id, q.id DESC"
)


class CatalogLoaders:
    """Loaders of the catalog and enrollment relations."""

    ctx: Context

    @cached_property
    def provider(self) -> DataLoader[int, Row[Any] | None]:
        return one_by_key(self.ctx, PROVIDER_SQL + " WHERE pr.id = ANY(:keys)")

    @cached_property
    def provider_by_inn(self) -> DataLoader[str, Row[Any] | None]:
        return one_by_key(self.ctx, PROVIDER_SQL + " WHERE pr.inn = ANY(:keys)", key="inn")

    @cached_property
    def program(self) -> DataLoader[int, Row[Any] | None]:
        return one_by_key(self.ctx, PROGRAM_SQL + " WHERE p.id = ANY(:keys)")

    @cached_property
    def group(self) -> DataLoader[int, Row[Any] | None]:
        return one_by_key(self.ctx, GROUP_SQL + " WHERE g.id = ANY(:keys)")

    @cached_property
    def groups_by_program(self) -> DataLoader[int, list[Row[Any]]]:
        """Open (not archived) groups of each program, by start date."""
        return many_by_key(
            self.ctx,
            GROUP_SQL + " WHERE g.program_id = ANY(:keys) AND NOT g.archived ORDER BY g.program_id, g.starts_on, g.id",
            key="program_id",
        )

    @cached_property
    def enrollment(self) -> DataLoader[int, Row[Any] | None]:
        return one_by_key(self.ctx, ENROLLMENT_SQL + " WHERE e.id = ANY(:keys)")

    @cached_property
    def certificate_coverage(self) -> DataLoader[int, Row[Any] | None]:
        """What a certificate can pay now (the search's coveredByCertificate): the available balance in
        its municipality's current period (as ``balance``) and whether that period caps at the normative cost."""
        return one_by_key(
            self.ctx,
            "SELECT DISTINCT ON (c.id) c.id AS certificate_id, p.id AS period_id, p.cap_at_normative,"
            " coalesce(b.credited - b.reserved - b.spent - b.expired, 0) AS available"
            " FROM certificates c JOIN funding_periods p ON p.municipality = c.municipality AND p.status = 'OPEN'"
            " LEFT JOIN balances b ON b.certificate_id = c.id AND b.period_id = p.id"
            f" WHERE c.id = ANY(:keys) ORDER BY c.id, {CURRENT_PERIOD_ORDER}",
            key="certificate_id",
        )

    @cached_property
    def enrollment_charges(self) -> DataLoader[int, list[Row[Any]]]:
        """The CHARGE entries of each enrollment, by month."""
        return many_by_key(self.ctx, CHARGES_SQL, key="enrollment_id")

    @cached_property
    def child_enrollments(self) -> DataLoader[tuple[int, int, int | None], list[Row[Any]]]:
        """Pages (child, first, after id) of several children's enrollments: one statement per (first, after)."""
        ctx = self.ctx

        async def load(keys: list[tuple[int, int, int | None]]) -> list[list[Row[Any]]]:
            pages: dict[tuple[int, int, int | None], list[Row[Any]]] = {k: [] for k in keys}
            by_args: dict[tuple[int, int | None], list[int]] = defaultdict(list)
            for child, first, after in keys:
                by_args[(first, after)].append(child)
            for (first, after), children in by_args.items():
                rows = await fetch(ctx, CHILD_ENROLLMENTS_SQL, {"keys": children, "after": after, "limit": first + 1})
                for r in rows:
                    pages[(r.child_id, first, after)].append(r)
            return [pages[k] for k in keys]

        return DataLoader(load_fn=load)


class Loaders(CatalogLoaders):
    """All loaders of one request (created lazily)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @cached_property
    def child(self) -> DataLoader[int, Row[Any] | None]:
        return one_by_key(self.ctx, CHILD_SQL + " WHERE ch.id = ANY(:keys)")

    @cached_property
    def children_by_guardian_subject(self) -> DataLoader[str, list[Row[Any]]]:
        return many_by_key(self.ctx, CHILD_SQL + " WHERE g.subject = ANY(:keys) ORDER BY ch.id", key="guardian_subject")

    @cached_property
    def certificate(self) -> DataLoader[int, Row[Any] | None]:
        return one_by_key(self.ctx, CERTIFICATE_SQL + " WHERE c.id = ANY(:keys)")

    @cached_property
    def certificate_by_child(self) -> DataLoader[int, Row[Any] | None]:
        return one_by_key(self.ctx, CERTIFICATE_SQL + " WHERE c.child_id = ANY(:keys)", key="child_id")

    @cached_property
    def application(self) -> DataLoader[int, Row[Any] | None]:
        return one_by_key(self.ctx, APPLICATION_SQL + " WHERE a.id = ANY(:keys)")

    @cached_property
    def period(self) -> DataLoader[int, Row[Any] | None]:
        return one_by_key(self.ctx, PERIOD_SQL + " WHERE p.id = ANY(:keys)")

    @cached_property
    def current_period(self) -> DataLoader[str, Row[Any] | None]:
        return one_by_key(
            self.ctx,
            "SELECT DISTINCT ON (p.municipality) p.id, p.municipality, p.starts_on, p.ends_on,"
            " p.open_for_applications, p.status, p.proration, p.funded_limit FROM funding_periods p"
            " WHERE p.municipality = ANY(:keys) AND p.status = 'OPEN'"
            f" ORDER BY p.municipality, {CURRENT_PERIOD_ORDER}",
            key="municipality",
        )

    @cached_property
    def balance(self) -> DataLoader[int, Row[Any] | None]:
        """The balance of a certificate in its municipality's current period."""
        return one_by_key(
            self.ctx,
            "SELECT DISTINCT ON (c.id) c.id AS certificate_id, p.id AS period_id,"
            " coalesce(b.credited, 0) AS credited, coalesce(b.reserved, 0) AS reserved,"
            " coalesce(b.spent, 0) AS spent, coalesce(b.expired, 0) AS expired"
            " FROM certificates c JOIN funding_periods p ON p.municipality = c.municipality AND p.status = 'OPEN'"
            " LEFT JOIN balances b ON b.certificate_id = c.id AND b.period_id = p.id"
            f" WHERE c.id = ANY(:keys) ORDER BY c.id, {CURRENT_PERIOD_ORDER}",
            key="certificate_id",
        )

    @cached_property
    def funding(self) -> DataLoader[int, Row[Any] | None]:
        """Funding status (and queue position) of a certificate in the current period."""
        return one_by_key(
            self.ctx,
            "SELECT DISTINCT ON (c.id) c.id AS certificate_id, f.status, f.amount,"
            " CASE WHEN f.status = 'QUEUED' THEN (SELECT count(*) FROM period_fundings q"
            "   WHERE q.period_id = f.period_id AND q.status = 'QUEUED' AND q.queue_no <= f.queue_no) END AS position"
            " FROM certificates c JOIN funding_periods p ON p.municipality = c.municipality AND p.status = 'OPEN'"
            " LEFT JOIN period_fundings f ON f.certificate_id = c.id AND f.period_id = p.id"
            f" WHERE c.id = ANY(:keys) ORDER BY c.id, {CURRENT_PERIOD_ORDER}",
            key="certificate_id",
        )

    @cached_property
    def transaction(self) -> DataLoader[int, Row[Any] | None]:
        return one_by_key(
            self.ctx,
            "SELECT l.id, l.kind, l.amount, l.created_at, l.enrollment_id, l.description, l.month, l.completeness,"
            " l.certificate_id, l.period_id FROM ledger_entries l WHERE l.id = ANY(:keys)",
        )

    @cached_property
    def municipality(self) -> DataLoader[str, Row[Any] | None]:
        return one_by_key(self.ctx, "SELECT code, name FROM municipalities WHERE code = ANY(:keys)", key="code")
