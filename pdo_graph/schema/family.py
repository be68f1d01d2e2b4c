"""Families' side: viewer, children, certificates, balances, transactions, applications; the inputs
and payloads of the certificate mutations."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, TypeAlias

import strawberry
from strawberry.types import Info

from pdo_graph.crypto import personal_data_keys
from pdo_graph.domain import ledger
from pdo_graph.domain.access import Role, can_read_family
from pdo_graph.domain.audit import ChildRef
from pdo_graph.domain.certificates import CertificateStatus
from pdo_graph.domain.identifiers import format_snils
from pdo_graph.ids import encode_id
from pdo_graph.reads.family import (
    APPLICATION,
    APPLICATIONS_OF_GUARDIAN,
    BALANCE,
    BALANCES_OF_CERTIFICATE,
    CERTIFICATE,
    CERTIFICATE_OF_CHILD,
    CHILD,
    CHILDREN_OF_GUARDIAN,
    CHILDREN_OF_GUARDIAN_WITH_CERTIFICATES,
    FUNDING,
    TRANSACTION,
    TRANSACTION_COUNT,
    TRANSACTIONS_OF_CERTIFICATE,
    ApplicationRow,
    BalanceRow,
    CertificateRow,
    ChildRow,
    TransactionRow,
)
from pdo_graph.schema.base import (
    After,
    Connection,
    First,
    Money,
    Node,
    UserError,
    build_connection,
    describe_values,
    money,
    reads_ahead,
    related,
)
from pdo_graph.schema.context import Context
from pdo_graph.schema.paging import page_args

if TYPE_CHECKING:
    from pdo_graph.schema.catalog import Provider
    from pdo_graph.schema.enrollment import Enrollment
    from pdo_graph.schema.notifications import Notification
    from pdo_graph.schema.periods import FundingPeriod

strawberry.enum(CertificateStatus, description="Status of a certificate.")
describe_values(
    CertificateStatus,
    {
        "ACTIVE": "Pays for services.",
        "FROZEN": "Suspended by the operator; may be made active again.",
        "EXPIRED": "Past its validity (the child turned 18).",
        "REVOKED": "Withdrawn by the operator for good.",
    },
)
TransactionKind: TypeAlias = ledger.Kind
strawberry.enum(TransactionKind, name="TransactionKind", description="Kind of a ledger movement.")
describe_values(
    TransactionKind,
    {
        "CREDIT": "A period's nominal credited to the certificate.",
        "RESERVE": "Held for an application or contract.",
        "RELEASE": "A reserve returned to the available balance.",
        "CHARGE": "Paid to a provider for a month of service (from the reserve).",
        "EXPIRE": "Money not spent when its period closed.",
        "CARRY": "Money not spent when its period closed, carried into the municipality's next period"
        " (out of the old period, into the new one).",
    },
)


@strawberry.enum(description="Whether a certificate is funded in the current period.")
class FundingState(Enum):
    FUNDED = "FUNDED"
    QUEUED = "QUEUED"
    NOT_FUNDED = "NOT_FUNDED"


describe_values(
    FundingState,
    {
        "FUNDED": "Credited in the current period.",
        "QUEUED": "Waiting for a place under the period's funded-certificate limit.",
        "NOT_FUNDED": "Not funded in the current period (none is open, or its age has no nominal).",
    },
)


@strawberry.type(description="Balance of a certificate in the current period, in four terms.")
class Balance:
    credited: Money = strawberry.field(description="Credited for the period (nominal).")
    reserved: Money = strawberry.field(description="Held for applications and contracts.")
    spent: Money = strawberry.field(description="Charged for services provided.")
    available: Money = strawberry.field(description="credited - reserved - spent - expired.")
    expired: Money = strawberry.field(description="Expired at the period's close.")
    carried: Money = strawberry.field(description="Carried into the next period at the period's close.")

    @classmethod
    async def of_certificate(cls, ctx: Context, certificate_pk: int) -> Balance:
        """The certificate's balance in its municipality's current period (zero when none is open)."""
        return cls.of_row(await ctx.loaders[BALANCE].load(certificate_pk))

    @classmethod
    def of_row(cls, row: BalanceRow | None) -> Balance:
        """A certificate's balance in its municipality's current period (zero when none is open)."""
        if row is None:
            return ZERO_BALANCE
        return cls(
            credited=money(row.credited),
            reserved=money(row.reserved),
            spent=money(row.spent),
            expired=money(row.expired),
            carried=money(row.carried),
            available=money(row.available),
        )


ZERO_BALANCE = Balance(
    credited=money(0), reserved=money(0), spent=money(0), available=money(0), expired=money(0), carried=money(0)
)


@strawberry.type(description="A certificate's money in one funding period: where each rouble went.")
class PeriodBalance:
    credited: Money = strawberry.field(description="Credited in the period (its nominal and money carried in).")
    reserved: Money = strawberry.field(description="Held for applications and contracts.")
    spent: Money = strawberry.field(description="Charged for services provided.")
    expired: Money = strawberry.field(description="Expired at the period's close.")
    carried: Money = strawberry.field(description="Carried out into the municipality's next period at the close.")
    available: Money = strawberry.field(description="credited - reserved - spent - expired - carried.")
    _period_id: strawberry.Private[int]

    @strawberry.field(description="The funding period.")
    async def period(
        self, info: Info[Context, None]
    ) -> Annotated[FundingPeriod, strawberry.lazy("pdo_graph.schema.periods")]:
        from pdo_graph.schema.periods import FundingPeriod

        found = await FundingPeriod.load(info.context, self._period_id)
        assert found is not None
        return found


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
    def from_row(cls, r: TransactionRow) -> Transaction:
        return cls(
            id=strawberry.ID(encode_id("Transaction", r.id)),
            kind=ledger.Kind(r.kind),
            amount=money(r.amount),
            created_at=r.created_at,
            description=r.description,
            month=r.month,
            completeness=r.completeness,
            _enrollment_id=r.enrollment_id,
        )

    @classmethod
    async def load(cls, ctx: Context, pk: int) -> Transaction | None:
        """Visible with its certificate."""
        row = await ctx.loaders[TRANSACTION].load(pk)
        if row is None or await Certificate.load(ctx, row.certificate_id) is None:
            return None
        return cls.from_row(row)

    @strawberry.field(description="The enrollment this movement belongs to, when it does.")
    async def enrollment(
        self, info: Info[Context, None]
    ) -> Annotated[Enrollment, strawberry.lazy("pdo_graph.schema.enrollment")] | None:
        if self._enrollment_id is None:
            return None
        from pdo_graph.schema.enrollment import Enrollment

        return await Enrollment.load(info.context, self._enrollment_id)


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

    rows = CERTIFICATE

    @classmethod
    def from_row(cls, r: CertificateRow) -> Certificate:
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

    @classmethod
    def visible(cls, ctx: Context, row: CertificateRow) -> bool:
        """Its guardian, or the operator of its municipality."""
        return can_read_family(ctx.actor, row.guardian_subject, row.municipality)

    @strawberry.field(description="The child this certificate belongs to.")
    async def child(self, info: Info[Context, None]) -> Child:
        row = await info.context.loaders[CHILD].load(self._child_id)
        assert row is not None
        return Child.from_row(row)

    @strawberry.field(description="Balance for the current period (zero when no period is open).")
    def balance(self, info: Info[Context, None]) -> Balance:
        return related(info.context, BALANCE, self.pk, Balance.of_row)  # type: ignore[no-any-return]

    @strawberry.field(description="The certificate's balance in every period it had money in, newest first.")
    async def balances(self, info: Info[Context, None]) -> list[PeriodBalance]:
        rows = await info.context.loaders[BALANCES_OF_CERTIFICATE].load(self.pk)
        return [
            PeriodBalance(
                credited=money(r.credited),
                reserved=money(r.reserved),
                spent=money(r.spent),
                expired=money(r.expired),
                carried=money(r.carried),
                available=money(r.available),
                _period_id=r.period_id,
            )
            for r in rows
        ]

    @strawberry.field(description="Funding in the current period: funded, or the place in the queue.")
    async def funding(self, info: Info[Context, None]) -> Funding:
        row = await info.context.loaders[FUNDING].load(self.pk)
        if row is None or row.status is None:
            return Funding(state=FundingState.NOT_FUNDED, queue_position=None, nominal=None)
        amount = None if row.amount is None else money(row.amount)
        return Funding(state=FundingState(row.status), queue_position=row.position, nominal=amount)

    @strawberry.field(description="Every movement of the certificate's money, newest first.")
    async def transactions(
        self, info: Info[Context, None], first: First, after: After = None
    ) -> Connection[Transaction]:
        ctx = info.context
        first, key = page_args(first, after, ctx.lang, (int,))
        rows = await ctx.loaders[TRANSACTIONS_OF_CERTIFICATE].load((self.pk, first, key[0] if key else None))
        count = ctx.loaders[TRANSACTION_COUNT]
        return build_connection(rows, first, lambda: count.load(self.pk), lambda r: [r.id], Transaction.from_row, after)


def _certificate_or_none(row: CertificateRow | None) -> Certificate | None:
    return None if row is None else Certificate.from_row(row)


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

    rows = CHILD

    @classmethod
    def from_row(cls, r: ChildRow) -> Child:
        return cls(
            id=strawberry.ID(encode_id("Child", r.id)),
            municipality=r.municipality,
            pk=r.id,
            _ref=ChildRef(r.id, r.municipality, r.guardian_subject),
            _full_name=r.full_name,
            _birth_date=r.birth_date,
            _snils_sealed=r.snils_sealed,
        )

    @classmethod
    def visible(cls, ctx: Context, row: ChildRow) -> bool:
        """Its guardian, or the operator of its municipality."""
        return can_read_family(ctx.actor, row.guardian_subject, row.municipality)

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
    def certificate(self, info: Info[Context, None]) -> Certificate | None:
        return related(info.context, CERTIFICATE_OF_CHILD, self.pk, _certificate_or_none)  # type: ignore[no-any-return]

    @strawberry.field(description="The child's applications and contracts, newest first.")
    async def enrollments(
        self, info: Info[Context, None], first: First, after: After = None
    ) -> Connection[Annotated[Enrollment, strawberry.lazy("pdo_graph.schema.enrollment")]]:
        from pdo_graph.schema.enrollment import child_enrollments

        catalog = reads_ahead(info, "edges", "node", "group")
        return await child_enrollments(info.context, self.pk, first, after, with_catalog=catalog)


@strawberry.enum(description="Where a certificate application stands in the operator's verification.")
class CertificateApplicationStatus(Enum):
    SUBMITTED = "SUBMITTED"
    ISSUED = "ISSUED"
    REJECTED = "REJECTED"


describe_values(
    CertificateApplicationStatus,
    {
        "SUBMITTED": "Waiting for the operator's verification.",
        "ISSUED": "Verified: the certificate was issued.",
        "REJECTED": "Rejected with a reason; the guardian may apply again for the child.",
    },
)


@strawberry.type(description="An application for a certificate, verified by the operator.")
class CertificateApplication(Node):
    status: CertificateApplicationStatus = strawberry.field(description="SUBMITTED, ISSUED or REJECTED.")
    created_at: datetime = strawberry.field(description="When the guardian applied.")
    municipality: str = strawberry.field(description="Municipality code.")
    rejection_reason: str | None = strawberry.field(description="Why the operator rejected it (REJECTED only).")
    _child_id: strawberry.Private[int]

    rows = APPLICATION

    @classmethod
    def from_row(cls, r: ApplicationRow) -> CertificateApplication:
        return cls(
            id=strawberry.ID(encode_id("CertificateApplication", r.id)),
            status=CertificateApplicationStatus(r.status),
            created_at=r.created_at,
            municipality=r.municipality,
            rejection_reason=r.rejection_reason,
            _child_id=r.child_id,
        )

    @classmethod
    def visible(cls, ctx: Context, row: ApplicationRow) -> bool:
        """Its guardian, or the operator of its municipality."""
        return can_read_family(ctx.actor, row.guardian_subject, row.municipality)

    @strawberry.field(description="The child the application is for.")
    async def child(self, info: Info[Context, None]) -> Child:
        row = await info.context.loaders[CHILD].load(self._child_id)
        assert row is not None
        return Child.from_row(row)


@strawberry.type(description="Who is calling.")
class Viewer:
    role: Role | None = strawberry.field(description="Null when anonymous.")
    subject: str | None = strawberry.field(description="Token subject; null when anonymous.")
    municipality: str | None = strawberry.field(description="Operator's municipality, when any.")

    @strawberry.field(description="Guardian: own children; others: empty.")
    async def children(self, info: Info[Context, None]) -> list[Child]:
        actor = info.context.actor
        if actor.role is not Role.GUARDIAN or actor.subject is None:
            return []
        key = CHILDREN_OF_GUARDIAN_WITH_CERTIFICATES if reads_ahead(info, "certificate") else CHILDREN_OF_GUARDIAN
        rows = await info.context.loaders[key].load(actor.subject)
        return [Child.from_row(r) for r in rows]

    @strawberry.field(description="Provider: own organisation; others: null.")
    async def provider(
        self, info: Info[Context, None]
    ) -> Annotated[Provider, strawberry.lazy("pdo_graph.schema.catalog")] | None:
        from pdo_graph.schema.catalog import Provider

        pk = info.context.actor.provider_id
        return None if pk is None else await Provider.load(info.context, pk)

    @strawberry.field(
        description="Guardian: own notifications; provider: its organisation's; newest first (others: empty)."
    )
    async def notifications(
        self,
        info: Info[Context, None],
        first: First,
        after: After = None,
        unread_only: Annotated[bool | None, strawberry.argument(description="True: only the unread ones.")] = False,
    ) -> Connection[Annotated[Notification, strawberry.lazy("pdo_graph.schema.notifications")]]:
        from pdo_graph.schema.notifications import viewer_notifications

        return await viewer_notifications(info.context, first, after, bool(unread_only))

    @strawberry.field(description="How many of the caller's notifications are unread (0 for those without any).")
    async def unread_notifications(self, info: Info[Context, None]) -> int:
        from pdo_graph.schema.notifications import viewer_unread

        return await viewer_unread(info.context)

    @strawberry.field(description="Guardian: own certificate applications with their status.")
    async def certificate_applications(self, info: Info[Context, None]) -> list[CertificateApplication]:
        actor = info.context.actor
        if actor.role is not Role.GUARDIAN or actor.subject is None:
            return []
        rows = await info.context.loaders[APPLICATIONS_OF_GUARDIAN].load(actor.subject)
        return [CertificateApplication.from_row(r) for r in rows]


# --- inputs and payloads of the certificate mutations ----------------------------------------------


@strawberry.input(description="A guardian's application for a child's certificate.")
class CertificateApplyInput:
    full_name: str = strawberry.field(description="The child's full name (ФИО).")
    birth_date: date = strawberry.field(description="The child's date of birth.")
    snils: str | None = strawberry.field(default=None, description="СНИЛС of the child, if known.")
    municipality: str = strawberry.field(description="Municipality code where the child lives.")


@strawberry.type(description="Result of certificateApply.")
class CertificateApplyPayload:
    application: CertificateApplication | None = strawberry.field(description="The new application.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Issue a certificate for a verified application.")
class CertificateIssueInput:
    application_id: strawberry.ID = strawberry.field(description="The application.")


@strawberry.type(description="Result of certificate mutations.")
class CertificateIssuePayload:
    certificate: Certificate | None = strawberry.field(description="The certificate.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Reject a certificate application.")
class CertificateApplicationRejectInput:
    application_id: strawberry.ID = strawberry.field(description="The application (SUBMITTED).")
    reason: str = strawberry.field(description="Why: the guardian sees it (1-1000 characters).")


@strawberry.type(description="Result of certificateApplicationReject.")
class CertificateApplicationPayload:
    application: CertificateApplication | None = strawberry.field(description="The application.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Change a certificate's status.")
class CertificateStatusInput:
    certificate_id: strawberry.ID = strawberry.field(description="The certificate.")
    reason: str | None = strawberry.field(default=None, description="Why (kept with the certificate).")


@strawberry.type(description="Result of a certificate status change.")
class CertificatePayload:
    certificate: Certificate | None = strawberry.field(description="The certificate.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


NODES: dict[str, type[Node]] = {
    "Child": Child,
    "Certificate": Certificate,
    "CertificateApplication": CertificateApplication,
    "Transaction": Transaction,
}
