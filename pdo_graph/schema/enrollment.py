"""Enrollments (applications and contracts) as families, providers and operators see them; quotes,
settlements; the inputs and payloads of the enrollment mutations.

Providers see the child of an application only as a ``Pupil`` (name and age): ``Enrollment.child``
(a ``Child`` with the birth date) answers them with a field-level FORBIDDEN error.
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from pdo_graph.domain.access import Role, can_read_enrollment
from pdo_graph.domain.audit import ChildRef
from pdo_graph.domain.enrollment import MonthShare, Status, Terms, monthly_plan
from pdo_graph.domain.messages import render
from pdo_graph.domain.people import age_on
from pdo_graph.ids import encode_id
from pdo_graph.reads.catalog import GROUP, PROVIDER
from pdo_graph.reads.enrollment import (
    CHILD_ENROLLMENTS,
    CHILD_ENROLLMENTS_WITH_CATALOG,
    ENROLLMENT,
    ENROLLMENT_CHARGES,
    EnrollmentRow,
    count_child_enrollments,
)
from pdo_graph.reads.family import CHILD
from pdo_graph.schema.base import (
    Connection,
    Money,
    Node,
    SafeInt,
    Total,
    UserError,
    build_connection,
    describe_values,
    existing,
    money,
    related,
)
from pdo_graph.schema.catalog import Group, Provider
from pdo_graph.schema.context import Context
from pdo_graph.schema.family import Child, Transaction
from pdo_graph.schema.paging import page_args
from pdo_graph.schema.periods import FundingPeriod

strawberry.enum(Status, name="EnrollmentStatus", description="Status of an application or contract.")
describe_values(
    Status,
    {
        "AWAITING_CONSENT": "A prolonged contract whose family share changed: reserved, waiting for the guardian's"
        " consent (enrollmentConsent) to become ACTIVE.",
        "REQUESTED": "An application: the amount is reserved, the provider has not answered yet.",
        "ACTIVE": "A contract: accepted by the provider, charged month by month.",
        "REFUSED": "The provider refused the application; the reserve returned.",
        "EXPIRED": "Not answered in time (or its period closed); the reserve returned.",
        "TERMINATED": "Cancelled while it ran: charged months stay, the rest returned.",
        "COMPLETED": "The group ended, or its funding period closed.",
    },
)
EnrollmentStatus = Status


@strawberry.type(description="One month of a contract: what the certificate and the family pay for it.")
class MonthlyShare:
    month: date = strawberry.field(description="The month (its first day).")
    from_certificate: Money = strawberry.field(description="Paid from the certificate for this month.")
    from_family: Money = strawberry.field(description="Co-paid by the family for this month.")

    @classmethod
    def of(cls, share: MonthShare) -> MonthlyShare:
        return cls(
            month=share.month, from_certificate=money(share.from_certificate), from_family=money(share.from_family)
        )


@strawberry.type(
    description="A pupil as the provider sees them: the name and the age, nothing else. Reading them as anyone "
    "but the guardian is written to the audit log."
)
class Pupil:
    _ref: strawberry.Private[ChildRef]
    _full_name: strawberry.Private[str]
    _age: strawberry.Private[int]

    @strawberry.field(description="Full name (ФИО).")
    def full_name(self, info: Info[Context, None]) -> str:
        info.context.audit.note(self._ref, "fullName")
        return self._full_name

    @strawberry.field(description="Age in full years today.")
    def age(self, info: Info[Context, None]) -> int:
        info.context.audit.note(self._ref, "age")
        return self._age


CONTRACT_PATH = "/contracts/{enrollment_id}"  # served by pdo_graph.transport.contracts


@strawberry.type(description="The contract (договор-оферта) of an enrollment: its number and its document.")
class Contract:
    number: str = strawberry.field(
        description="The contract's number: municipality code, year of the application, serial (01-2026-000042)."
    )
    accepted_at: datetime | None = strawberry.field(
        description="When the family accepted the offer: the guardian's application is its acceptance."
    )
    document_url: str = strawberry.field(
        description=(
            "The offer rendered in Russian (parties, child, program, group, months, price, the certificate's and the"
            " family's parts by month, acceptance time): an authenticated GET (Authorization: Bearer, as /graphql)"
            " for those who may see the enrollment; HTML, or PDF with `?format=pdf`. Relative to the server."
        )
    )


@strawberry.type(description="An application to a group and, once accepted, the contract.")
class Enrollment(Node):
    status: EnrollmentStatus = strawberry.field(description="Status.")
    price: Money = strawberry.field(description="Price of the contract (for the months it covers).")
    from_certificate: Money = strawberry.field(description="Paid from the certificate.")
    from_family: Money = strawberry.field(description="Co-paid by the family.")
    reserved: Money = strawberry.field(description="Still reserved on the certificate for this contract.")
    charged: Money = strawberry.field(description="Charged so far.")
    first_month: date = strawberry.field(description="First month of the contract.")
    months: int = strawberry.field(description="Number of months of the contract.")
    reason: str | None = strawberry.field(description="Reason of a refusal or cancellation.")
    created_at: datetime = strawberry.field(description="When the application was made.")
    decided_at: datetime | None = strawberry.field(description="When the provider accepted or refused it.")
    contract: Contract = strawberry.field(description="The contract: its number and its document (HTML or PDF).")
    pk: strawberry.Private[int]
    _child_id: strawberry.Private[int]
    _group_id: strawberry.Private[int]
    _from_certificate: strawberry.Private[int]
    _from_family: strawberry.Private[int]
    _period_id: strawberry.Private[int]

    rows = ENROLLMENT

    @classmethod
    def from_row(cls, r: EnrollmentRow) -> Enrollment:
        return cls(
            id=strawberry.ID(encode_id("Enrollment", r.id)),
            status=Status(r.status),
            price=money(r.price),
            from_certificate=money(r.from_certificate),
            from_family=money(r.from_family),
            reserved=money(r.reserved),
            charged=money(r.charged),
            first_month=r.first_month,
            months=r.months,
            reason=r.reason,
            created_at=r.created_at,
            decided_at=r.decided_at,
            contract=Contract(
                number=r.contract_number,
                accepted_at=r.created_at,
                document_url=CONTRACT_PATH.format(enrollment_id=encode_id("Enrollment", r.id)),
            ),
            pk=r.id,
            _child_id=r.child_id,
            _group_id=r.group_id,
            _from_certificate=r.from_certificate,
            _from_family=r.from_family,
            _period_id=r.period_id,
        )

    @strawberry.field(description="The funding period that pays for it (a contract never outlives it).")
    async def period(self, info: Info[Context, None]) -> FundingPeriod:
        found = await FundingPeriod.load(info.context, self._period_id)
        assert found is not None  # periods are public
        return found

    @classmethod
    def visible(cls, ctx: Context, row: EnrollmentRow) -> bool:
        """The family's readers and the provider of the group."""
        return can_read_enrollment(ctx.actor, row.guardian_subject, row.municipality, row.provider_id)

    @strawberry.field(
        description="The child (with the birth date): the guardian and the operator. Providers get a FORBIDDEN "
        "error here and read `pupil` instead."
    )
    async def child(self, info: Info[Context, None]) -> Child:
        ctx = info.context
        # Load first, refuse after: the row is shared with `pupil` through the loader, and a
        # non-null field's error cancels its siblings, which must not be caught mid-statement.
        row = await ctx.loaders[CHILD].load(self._child_id)
        if ctx.actor.role is Role.PROVIDER:
            raise GraphQLError(render("enrollment_child_hidden", ctx.lang, {}), extensions={"code": "FORBIDDEN"})
        assert row is not None
        return Child.from_row(row)

    @strawberry.field(description="The pupil: name and age only (what the provider may see).")
    async def pupil(self, info: Info[Context, None]) -> Pupil:
        row = await info.context.loaders[CHILD].load(self._child_id)
        assert row is not None
        return Pupil(
            _ref=ChildRef(row.id, row.municipality, row.guardian_subject),
            _full_name=row.full_name,
            _age=age_on(row.birth_date, info.context.today),
        )

    @strawberry.field(description="The group.")
    def group(self, info: Info[Context, None]) -> Group:
        return related(info.context, GROUP, self._group_id, existing(Group.from_row))  # type: ignore[no-any-return]

    @strawberry.field(description="Monthly charges so far (CHARGE movements with month and completeness).")
    async def charges(self, info: Info[Context, None]) -> list[Transaction]:
        rows = await info.context.loaders[ENROLLMENT_CHARGES].load(self.pk)
        return [Transaction.from_row(r) for r in rows]

    @strawberry.field(description="The plan: each month's certificate and family shares.")
    def monthly(self) -> list[MonthlyShare]:
        plan = monthly_plan(self.first_month, self.months, self._from_certificate, self._from_family)
        return [MonthlyShare.of(s) for s in plan]


async def child_enrollments(
    ctx: Context, child_pk: int, first: int, after: str | None, *, with_catalog: bool = False
) -> Connection[Enrollment]:
    """Enrollments of a child the caller may already see (checked by the Child node), newest first;
    ``with_catalog``: their groups, programs and providers read in the same statement."""
    first, key = page_args(first, after, ctx.lang, (int,))
    after_id = key[0] if key else None
    pages = CHILD_ENROLLMENTS_WITH_CATALOG if with_catalog else CHILD_ENROLLMENTS
    rows = await ctx.loaders[pages].load((child_pk, first, after_id))
    total: Total
    if rows:
        total = int(rows[0].total)
    elif after_id is None:
        total = 0
    else:  # paged past the end: counted, when totalCount is selected
        total = lambda: count_child_enrollments(ctx.scope, child_pk)  # noqa: E731
    return build_connection(rows, first, total, lambda r: [r.id], Enrollment.from_row, after)


@strawberry.type(description="The price of a group for a certificate, split between the certificate and the family.")
class Quote:
    price: Money = strawberry.field(description="Price of the contract (the months from the current one when joining).")
    full_price: Money = strawberry.field(description="The group's price for its whole run.")
    from_certificate: Money = strawberry.field(description="Paid from the certificate: min(price, available[, cap]).")
    from_family: Money = strawberry.field(description="Co-paid by the family: the rest.")
    first_month: date | None = strawberry.field(description="First month the contract would cover.")
    months: int = strawberry.field(description="Months the contract would cover.")
    joins_running_group: bool = strawberry.field(description="The group has started; the price covers months left.")
    monthly: list[MonthlyShare] = strawberry.field(description="The monthly split; the first month takes remainders.")
    user_errors: list[UserError] = strawberry.field(description="Why applying would fail now, if it would.")

    @classmethod
    def of(cls, terms: Terms | None, errors: list[UserError]) -> Quote:
        if terms is None:
            zero = money(0)
            return cls(
                price=zero,
                full_price=zero,
                from_certificate=zero,
                from_family=zero,
                first_month=None,
                months=0,
                joins_running_group=False,
                monthly=[],
                user_errors=errors,
            )
        return cls(
            price=money(terms.price),
            full_price=money(terms.full_price),
            from_certificate=money(terms.from_certificate),
            from_family=money(terms.from_family),
            first_month=terms.first_month,
            months=terms.months,
            joins_running_group=terms.joins_running_group,
            monthly=[MonthlyShare.of(s) for s in terms.monthly],
            user_errors=errors,
        )


@strawberry.type(description="What certificates paid a provider for one month (from its provision reports).")
class ProviderSettlement:
    month: date = strawberry.field(description="The month (its first day).")
    charged: Money = strawberry.field(description="Sum charged from certificates.")
    released: Money = strawberry.field(description="Sum returned to certificates for services not provided.")
    contracts: int = strawberry.field(description="Number of contracts reported for the month.")
    _provider_id: strawberry.Private[int]

    @strawberry.field(description="The provider.")
    async def provider(self, info: Info[Context, None]) -> Provider:
        row = await info.context.loaders[PROVIDER].load(self._provider_id)
        assert row is not None
        return Provider.from_row(row)


# --- inputs and payloads of the enrollment mutations -----------------------------------------------


@strawberry.input(description="Apply for a group with a certificate.")
class EnrollmentCreateInput:
    certificate_id: strawberry.ID = strawberry.field(description="The child's certificate.")
    group_id: strawberry.ID = strawberry.field(description="The group.")
    idempotency_key: str = strawberry.field(
        description="Client-chosen key (1..200 characters): a retry with the same key returns the first result."
    )
    expected_from_family: SafeInt | None = strawberry.field(
        default=None,
        description=(
            "The family's share the guardian saw in the quote and agrees to pay, kopecks in total: when the"
            " share recomputed at applying differs, nothing is reserved and the answer is QUOTE_CHANGED with"
            " the new figures. Omitted: the guardian confirms nothing."
        ),
    )


@strawberry.input(description="A decision on an application or contract.")
class EnrollmentDecisionInput:
    enrollment_id: strawberry.ID = strawberry.field(description="The enrollment.")
    reason: str | None = strawberry.field(default=None, description="Why (kept with the enrollment).")


@strawberry.input(description="The guardian's consent to a prolonged contract.")
class EnrollmentConsentInput:
    enrollment_id: strawberry.ID = strawberry.field(description="The contract (AWAITING_CONSENT).")
    expected_from_family: SafeInt = strawberry.field(description="The family's share it saw, kopecks in total.")


@strawberry.input(description="Prolong contracts into a new period.")
class ContractsProlongInput:
    period_id: strawberry.ID = strawberry.field(description="The new (open) period.")
    enrollment_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only these contracts; none: every eligible contract in the caller's scope."
    )


@strawberry.type(description="Result of contractsProlong.")
class ContractsProlongPayload:
    prolonged: list[Enrollment] = strawberry.field(description="The new contracts.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of the enrollment mutations.")
class EnrollmentPayload:
    enrollment: Enrollment | None = strawberry.field(description="The enrollment as it is now.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Completeness of one contract for the month.")
class ProvisionItem:
    enrollment_id: strawberry.ID = strawberry.field(description="The contract (an ACTIVE enrollment).")
    completeness: int = strawberry.field(description="Completeness of the service in percent, 0..100.")


@strawberry.input(description="A provider's monthly report (полнота оказания услуги); all items or none.")
class ProvisionReportInput:
    month: date = strawberry.field(description="The month (its first day; any day of it is taken as the month).")
    items: list[ProvisionItem] = strawberry.field(description="One item per contract, at most 500.")


@strawberry.type(description="Result of provisionReport.")
class ProvisionReportPayload:
    charged: Money = strawberry.field(description="Charged from certificates by this report.")
    released: Money = strawberry.field(description="Returned to certificates (the unprovided part of the shares).")
    contracts: int = strawberry.field(description="Contracts reported.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing is written then).")


NODES: dict[str, type[Node]] = {"Enrollment": Enrollment}
