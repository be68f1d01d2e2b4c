"""Families' side: viewer, children, certificates, balances, transactions, applications, periods."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row, text
from strawberry.types import Info

from pdo_graph.crypto import personal_data_keys
from pdo_graph.domain.access import can_read_family
from pdo_graph.domain.audit import ChildRef
from pdo_graph.domain.identifiers import format_snils
from pdo_graph.ids import encode_id
from pdo_graph.resolvers.loaders import fetch
from pdo_graph.schema.base import Connection, Money, Node, Role, build_connection, money
from pdo_graph.schema.context import Context
from pdo_graph.schema.paging import page_args

if TYPE_CHECKING:
    from pdo_graph.schema.catalog import Provider
    from pdo_graph.schema.enrollment import Enrollment


@strawberry.enum(description="Status of a certificate.")
class CertificateStatus(Enum):
    ACTIVE = "ACTIVE"
    FROZEN = "FROZEN"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


@strawberry.enum(description="Kind of a ledger movement.")
class TransactionKind(Enum):
    CREDIT = "CREDIT"
    RESERVE = "RESERVE"
    RELEASE = "RELEASE"
    CHARGE = "CHARGE"
    EXPIRE = "EXPIRE"


@strawberry.enum(description="Whether a certificate is funded in the current period.")
class FundingState(Enum):
    FUNDED = "FUNDED"
    QUEUED = "QUEUED"
    NOT_FUNDED = "NOT_FUNDED"


@strawberry.type(description="A municipality (муниципалитет) of the region.")
class Municipality:
    code: str = strawberry.field(description="Two-digit code, part of certificate numbers.")
    name: str = strawberry.field(description="Name of the municipality.")

    @strawberry.field(description="The funding period open now (or the latest open one), if any.")
    async def current_period(self, info: Info[Context, None]) -> FundingPeriod | None:
        row = await info.context.loaders.current_period.load(self.code)
        return None if row is None else FundingPeriod.from_row(row)


@strawberry.type(description="A funding period (период реализации программы ПФ) of one municipality.")
class FundingPeriod(Node):
    municipality: str = strawberry.field(description="Municipality code.")
    starts_on: date = strawberry.field(description="First day of the period.")
    ends_on: date = strawberry.field(description="Last day of the period.")
    open_for_applications: bool = strawberry.field(description="Whether new applications are accepted.")
    closed: bool = strawberry.field(description="True once the period is closed and leftovers expired.")
    proration: str = strawberry.field(description="FULL or PRORATED_MONTHLY for certificates issued mid-period.")
    funded_certificate_limit: int | None = strawberry.field(description="How many certificates may be funded.")

    @classmethod
    def from_row(cls, r: Row[Any]) -> FundingPeriod:
        return cls(
            id=strawberry.ID(encode_id("FundingPeriod", r.id)),
            municipality=r.municipality,
            starts_on=r.starts_on,
            ends_on=r.ends_on,
            open_for_applications=r.open_for_applications and r.status == "OPEN",
            closed=r.status == "CLOSED",
            proration=r.proration,
            funded_certificate_limit=r.funded_limit,
        )


@strawberry.type(description="Balance of a certificate in the current period, in four terms.")
class Balance:
    credited: Money = strawberry.field(description="Credited for the period (nominal).")
    reserved: Money = strawberry.field(description="Held for applications and contracts.")
    spent: Money = strawberry.field(description="Charged for services provided.")
    available: Money = strawberry.field(description="credited - reserved - spent - expired.")
    expired: Money = strawberry.field(description="Expired at the period's close.")


@strawberry.type(description="Whether and how the certificate is funded in the current period.")
class Funding:
    state: FundingState = strawberry.field(description="FUNDED, QUEUED (waiting under the limit) or NOT_FUNDED.")
    queue_position: int | None = strawberry.field(description="Place in the first-come queue when QUEUED.")
    nominal: Money | None = strawberry.field(description="Amount credited or to be credited.")


@strawberry.type(description="A movement of a certificate's money (a ledger entry).")
class Transaction(Node):
    kind: TransactionKind = strawberry.field(description="CREDIT, RESERVE, RELEASE, CHARGE or EXPIRE.")
    amount: Money = strawberry.field(description="Amount moved (always positive).")
    created_at: datetime = strawberry.field(description="When it was recorded.")
    description: str = strawberry.field(description="Human-readable reason, in Russian.")
    month: date | None = strawberry.field(description="For monthly charges: the month (first day).")
    completeness: int | None = strawberry.field(description="For monthly charges: completeness in percent.")
    _enrollment_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, r: Row[Any]) -> Transaction:
        return cls(
            id=strawberry.ID(encode_id("Transaction", r.id)),
            kind=TransactionKind(r.kind),
            amount=money(r.amount),
            created_at=r.created_at,
            description=r.description,
            month=r.month,
            completeness=r.completeness,
            _enrollment_id=r.enrollment_id,
        )

    @strawberry.field(description="The enrollment this movement belongs to, when it does.")
    async def enrollment(
        self, info: Info[Context, None]
    ) -> Annotated[Enrollment, strawberry.lazy("pdo_graph.schema.enrollment")] | None:
        if self._enrollment_id is None:
            return None
        from pdo_graph.schema.enrollment import load_enrollment

        return await load_enrollment(info.context, self._enrollment_id)


@strawberry.type(description="A personified funding certificate (сертификат дополнительного образования).")
class Certificate(Node):
    number: str = strawberry.field(description="Certificate number: region (2) + municipality (2) + 6 digits.")
    uuid: str = strawberry.field(description="UUID kept beside the number.")
    status: CertificateStatus = strawberry.field(description="ACTIVE, FROZEN, EXPIRED or REVOKED.")
    valid_until: date = strawberry.field(description="Last day of validity (the day before the 18th birthday).")
    issued_on: date = strawberry.field(description="Day of issuance.")
    municipality: str = strawberry.field(description="Municipality code.")
    pk: strawberry.Private[int]
    _child_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: Row[Any]) -> Certificate:
        return cls(
            id=strawberry.ID(encode_id("Certificate", r.id)),
            number=r.number,
            uuid=str(r.uuid),
            status=CertificateStatus(r.status),
            valid_until=r.valid_until,
            issued_on=r.issued_on,
            municipality=r.municipality,
            pk=r.id,
            _child_id=r.child_id,
        )

    @strawberry.field(description="The child this certificate belongs to.")
    async def child(self, info: Info[Context, None]) -> Child:
        row = await info.context.loaders.child.load(self._child_id)
        assert row is not None
        return Child.from_row(row)

    @strawberry.field(description="Balance for the current period (zero when no period is open).")
    async def balance(self, info: Info[Context, None]) -> Balance:
        row = await info.context.loaders.balance.load(self.pk)
        credited, reserved, spent, expired = (
            (0, 0, 0, 0) if row is None else (row.credited, row.reserved, row.spent, row.expired)
        )
        return Balance(
            credited=money(credited),
            reserved=money(reserved),
            spent=money(spent),
            expired=money(expired),
            available=money(credited - reserved - spent - expired),
        )

    @strawberry.field(description="Funding in the current period: funded, or the place in the queue.")
    async def funding(self, info: Info[Context, None]) -> Funding:
        row = await info.context.loaders.funding.load(self.pk)
        if row is None or row.status is None:
            return Funding(state=FundingState.NOT_FUNDED, queue_position=None, nominal=None)
        return Funding(state=FundingState(row.status), queue_position=row.position, nominal=money(row.amount))

    @strawberry.field(description="Every movement of the certificate's money, newest first.")
    async def transactions(
        self, info: Info[Context, None], first: int, after: str | None = None
    ) -> Connection[Transaction]:
        first, key = page_args(first, after, info.context.lang, (int,))
        ctx = info.context
        rows = await fetch(
            ctx,
            "SELECT l.id, l.kind, l.amount, l.created_at, l.enrollment_id, l.description, l.month, l.completeness"
            " FROM ledger_entries l WHERE l.certificate_id = :c AND (CAST(:after AS bigint) IS NULL OR l.id < :after)"
            " ORDER BY l.id DESC LIMIT :limit",
            {"c": self.pk, "after": key[0] if key else None, "limit": first + 1},
        )
        total = (await fetch(ctx, "SELECT count(*) FROM ledger_entries WHERE certificate_id = :c", {"c": self.pk}))[0][
            0
        ]
        return build_connection(rows, first, total, lambda r: [r.id], Transaction.from_row, after)


@strawberry.type(
    description="A child: its guardian sees it, and the operator of its municipality. Reading the name, "
    "birth date or СНИЛС as anyone but the guardian is written to the audit log."
)
class Child(Node):
    municipality: str = strawberry.field(description="Municipality code.")
    pk: strawberry.Private[int]
    _ref: strawberry.Private[ChildRef]
    _full_name: strawberry.Private[str]
    _birth_date: strawberry.Private[date]
    _snils_sealed: strawberry.Private[str | None]

    @classmethod
    def from_row(cls, r: Row[Any]) -> Child:
        return cls(
            id=strawberry.ID(encode_id("Child", r.id)),
            municipality=r.municipality,
            pk=r.id,
            _ref=ChildRef(r.id, r.municipality, r.guardian_subject),
            _full_name=r.full_name,
            _birth_date=r.birth_date,
            _snils_sealed=r.snils_sealed,
        )

    @strawberry.field(description="Full name (ФИО).")
    def full_name(self, info: Info[Context, None]) -> str:
        info.context.audit.note(self._ref, "fullName")
        return self._full_name

    @strawberry.field(description="Date of birth.")
    def birth_date(self, info: Info[Context, None]) -> date:
        info.context.audit.note(self._ref, "birthDate")
        return self._birth_date

    @strawberry.field(description="СНИЛС as 000-000-000 00 (kept encrypted; null when not given).")
    def snils(self, info: Info[Context, None]) -> str | None:
        if self._snils_sealed is None:
            return None
        info.context.audit.note(self._ref, "snils")
        return format_snils(personal_data_keys(info.context.settings).open(self._snils_sealed))

    @strawberry.field(description="The child's certificate, once issued.")
    async def certificate(self, info: Info[Context, None]) -> Certificate | None:
        row = await info.context.loaders.certificate_by_child.load(self.pk)
        return None if row is None else Certificate.from_row(row)

    @strawberry.field(description="The child's applications and contracts, newest first.")
    async def enrollments(
        self, info: Info[Context, None], first: int, after: str | None = None
    ) -> Connection[Annotated[Enrollment, strawberry.lazy("pdo_graph.schema.enrollment")]]:
        from pdo_graph.schema.enrollment import child_enrollments

        return await child_enrollments(info.context, self.pk, first, after)


@strawberry.type(description="An application for a certificate, verified by the operator.")
class CertificateApplication(Node):
    status: str = strawberry.field(description="SUBMITTED, ISSUED or REJECTED.")
    created_at: datetime = strawberry.field(description="When the guardian applied.")
    municipality: str = strawberry.field(description="Municipality code.")
    _child_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: Row[Any]) -> CertificateApplication:
        return cls(
            id=strawberry.ID(encode_id("CertificateApplication", r.id)),
            status=r.status,
            created_at=r.created_at,
            municipality=r.municipality,
            _child_id=r.child_id,
        )

    @strawberry.field(description="The child the application is for.")
    async def child(self, info: Info[Context, None]) -> Child:
        row = await info.context.loaders.child.load(self._child_id)
        assert row is not None
        return Child.from_row(row)


@strawberry.type(description="Who is calling.")
class Viewer:
    role: Role | None = strawberry.field(description="Null when anonymous.")
    subject: str | None = strawberry.field(description="Token subject; null when anonymous.")
    municipality: str | None = strawberry.field(description="Operator's municipality, when any.")
    _ctx: strawberry.Private[Any]

    @strawberry.field(description="Guardian: own children; others: empty.")
    async def children(self, info: Info[Context, None]) -> list[Child]:
        p = info.context.actor
        if self.role is not Role.GUARDIAN or p.subject is None:
            return []
        rows = await info.context.loaders.children_by_guardian_subject.load(p.subject)
        return [Child.from_row(r) for r in rows]

    @strawberry.field(description="Provider: own organisation; others: null.")
    async def provider(
        self, info: Info[Context, None]
    ) -> Annotated[Provider, strawberry.lazy("pdo_graph.schema.catalog")] | None:
        from pdo_graph.schema.catalog import viewer_provider

        return await viewer_provider(info.context)

    @strawberry.field(description="Guardian: own certificate applications with their status.")
    async def certificate_applications(self, info: Info[Context, None]) -> list[CertificateApplication]:
        p = info.context.actor
        if self.role is not Role.GUARDIAN or p.subject is None:
            return []
        from pdo_graph.resolvers.loaders import APPLICATION_SQL

        rows = await fetch(info.context, APPLICATION_SQL + " WHERE g.subject = :s ORDER BY a.id", {"s": p.subject})
        return [CertificateApplication.from_row(r) for r in rows]


# --- node resolution with visibility -------------------------------------------------------------


async def load_child(ctx: Context, pk: int) -> Child | None:
    row = await ctx.loaders.child.load(pk)
    if row is None or not can_read_family(ctx.actor, row.guardian_subject, row.municipality):
        return None
    return Child.from_row(row)


async def load_certificate(ctx: Context, pk: int) -> Certificate | None:
    row = await ctx.loaders.certificate.load(pk)
    if row is None or not can_read_family(ctx.actor, row.guardian_subject, row.municipality):
        return None
    return Certificate.from_row(row)


async def load_application(ctx: Context, pk: int) -> CertificateApplication | None:
    row = await ctx.loaders.application.load(pk)
    if row is None or not can_read_family(ctx.actor, row.guardian_subject, row.municipality):
        return None
    return CertificateApplication.from_row(row)


async def load_transaction(ctx: Context, pk: int) -> Transaction | None:
    row = await ctx.loaders.transaction.load(pk)
    if row is None or await load_certificate(ctx, row.certificate_id) is None:
        return None
    return Transaction.from_row(row)


async def load_period(ctx: Context, pk: int) -> FundingPeriod | None:
    row = await ctx.loaders.period.load(pk)
    return None if row is None else FundingPeriod.from_row(row)


async def certificate_by_number(ctx: Context, number: str) -> Certificate | None:
    rows = await fetch(ctx, "SELECT id FROM certificates WHERE number = :n", {"n": number.strip()})
    return await load_certificate(ctx, rows[0].id) if rows else None


async def municipalities(ctx: Context) -> list[Municipality]:
    rows = await fetch(ctx, "SELECT code, name FROM municipalities ORDER BY code", {})
    return [Municipality(code=r.code, name=r.name) for r in rows]


NODE_LOADERS = {
    "Child": load_child,
    "Certificate": load_certificate,
    "CertificateApplication": load_application,
    "Transaction": load_transaction,
    "FundingPeriod": load_period,
}

_ = text  # re-exported for resolvers that build SQL
