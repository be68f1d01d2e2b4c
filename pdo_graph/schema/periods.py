"""Funding periods and municipalities: the objects, and the operator's inputs and payloads."""

from __future__ import annotations

from datetime import date
from enum import Enum

import strawberry
from strawberry.types import Info

from pdo_graph.domain import periods
from pdo_graph.ids import encode_id
from pdo_graph.reads.periods import CREDIT_PROGRESS, CURRENT_PERIOD, PERIOD, PeriodRow
from pdo_graph.schema.base import Money, Node, SafeInt, UserError, describe_values
from pdo_graph.schema.context import Context


@strawberry.type(description="A municipality (муниципалитет) of the region.")
class Municipality:
    code: str = strawberry.field(description="Two-digit code, part of certificate numbers.")
    name: str = strawberry.field(description="Name of the municipality.")

    @strawberry.field(description="The funding period open now (or the latest open one), if any.")
    async def current_period(self, info: Info[Context, None]) -> FundingPeriod | None:
        row = await info.context.loaders[CURRENT_PERIOD].load(self.code)
        return None if row is None else FundingPeriod.from_row(row)


@strawberry.type(description="How far a period's credits have got.")
class CreditProgress:
    certificates_funded: int = strawberry.field(description="Certificates credited in the period.")
    certificates_waiting: int = strawberry.field(
        description="Queued certificates the limit allows: credited by the next batches (zero once closed)."
    )
    certificates_beyond_limit: int = strawberry.field(description="Queued certificates the limit holds back.")
    done: bool = strawberry.field(description="True when no certificate waits for a credit batch.")


@strawberry.enum(description="What happens to a certificate's unused money when its period closes.")
class UnusedFunds(Enum):
    EXPIRE = "EXPIRE"
    CARRY_OVER = "CARRY_OVER"


describe_values(
    UnusedFunds,
    {
        "EXPIRE": "It expires (сгорает): EXPIRE entries.",
        "CARRY_OVER": "It moves into the municipality's next period (CARRY entries), credited when that opens.",
    },
)


@strawberry.type(description="A funding period (период реализации программы ПФ) of one municipality.")
class FundingPeriod(Node):
    municipality: str = strawberry.field(description="Municipality code.")
    starts_on: date = strawberry.field(description="First day of the period.")
    ends_on: date = strawberry.field(description="Last day of the period.")
    open_for_applications: bool = strawberry.field(description="Whether new applications are accepted.")
    closed: bool = strawberry.field(description="True once the period is closed and leftovers expired.")
    proration: str = strawberry.field(description="FULL or PRORATED_MONTHLY for certificates issued mid-period.")
    funded_certificate_limit: int | None = strawberry.field(description="How many certificates may be funded.")
    unused_funds: UnusedFunds = strawberry.field(description="What happens to unused money at the close.")
    pk: strawberry.Private[int]

    rows = PERIOD
    public = True

    @strawberry.field(
        description="How far the period's credits have got: a large opening credits in batches after the mutation."
    )
    async def credit_progress(self, info: Info[Context, None]) -> CreditProgress:
        row = await info.context.loaders[CREDIT_PROGRESS].load(self.pk)
        assert row is not None
        waiting = int(row.waiting)
        return CreditProgress(
            certificates_funded=int(row.funded),
            certificates_waiting=waiting,
            certificates_beyond_limit=int(row.queued) - waiting,
            done=waiting == 0,
        )

    @classmethod
    def from_row(cls, r: PeriodRow) -> FundingPeriod:
        return cls(
            id=strawberry.ID(encode_id("FundingPeriod", r.id)),
            municipality=r.municipality,
            starts_on=r.starts_on,
            ends_on=r.ends_on,
            open_for_applications=r.open_for_applications and r.status == "OPEN",
            closed=r.status == "CLOSED",
            proration=r.proration,
            funded_certificate_limit=r.funded_limit,
            unused_funds=UnusedFunds.CARRY_OVER if r.carry_over else UnusedFunds.EXPIRE,
            pk=r.id,
        )


ProrationRule = strawberry.enum(
    periods.Proration, name="ProrationRule", description="How certificates issued mid-period are credited."
)
describe_values(
    ProrationRule,
    {
        "FULL": "The whole nominal, whenever the certificate is issued.",
        "PRORATED_MONTHLY": "For a certificate issued after the start, the nominal's share of the months left.",
    },
)


@strawberry.input(description="A nominal for an age band.")
class NominalInput:
    min_age: int = strawberry.field(description="From this age in years, inclusive.")
    max_age: int = strawberry.field(description="To this age in years, inclusive.")
    kopecks: SafeInt = strawberry.field(description="Nominal in kopecks.")


@strawberry.input(description="Open a funding period of a municipality.")
class FundingPeriodOpenInput:
    municipality: str = strawberry.field(description="Municipality code.")
    starts_on: date = strawberry.field(description="First day.")
    ends_on: date = strawberry.field(description="Last day.")
    nominals: list[NominalInput] = strawberry.field(description="Nominals by age band.")
    funded_certificate_limit: int | None = strawberry.field(
        default=None, description="How many certificates may be funded; null: no limit."
    )
    proration: ProrationRule = strawberry.field(  # type: ignore[valid-type]
        default=periods.Proration.FULL, description="FULL or PRORATED_MONTHLY for mid-period certificates."
    )
    open_for_applications: bool = strawberry.field(default=True, description="Accept applications at once.")
    cap_at_normative: bool = strawberry.field(
        default=False, description="Cap what a certificate pays at the program's normative cost."
    )
    unused_funds: UnusedFunds = strawberry.field(
        default=UnusedFunds.EXPIRE, description="At the close, unused money expires or carries over."
    )

    def request(self) -> periods.PeriodRequest:
        return periods.PeriodRequest(
            municipality=self.municipality,
            starts_on=self.starts_on,
            ends_on=self.ends_on,
            nominals=[periods.Nominal(n.min_age, n.max_age, n.kopecks) for n in self.nominals],
            funded_limit=self.funded_certificate_limit,
            proration=periods.Proration(self.proration),
            open_for_applications=self.open_for_applications,
            cap_at_normative=self.cap_at_normative,
            carry_over=self.unused_funds is UnusedFunds.CARRY_OVER,
        )


@strawberry.type(description="Result of fundingPeriodOpen.")
class FundingPeriodOpenPayload:
    period: FundingPeriod | None = strawberry.field(description="The period.")
    credited: Money = strawberry.field(description="Credited by this call (zero when repeated).")
    certificates_credited: int = strawberry.field(description="Certificates credited by this call.")
    carried_in: Money = strawberry.field(description="Money carried over from earlier periods, credited by this call.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Change a period's limit or its applications switch.")
class FundingPeriodUpdateInput:
    period_id: strawberry.ID = strawberry.field(description="The period.")
    funded_certificate_limit: int | None = strawberry.field(
        default=strawberry.UNSET, description="New limit (raising it funds the queue in order); null: none."
    )
    open_for_applications: bool | None = strawberry.field(default=None, description="Accept applications.")


@strawberry.input(description="Close a period: its contracts end; what is left expires or carries over.")
class FundingPeriodCloseInput:
    period_id: strawberry.ID = strawberry.field(description="The period.")


@strawberry.type(description="Result of fundingPeriodUpdate and fundingPeriodClose.")
class FundingPeriodPayload:
    period: FundingPeriod | None = strawberry.field(description="The period.")
    credited: Money = strawberry.field(description="Credited by this call (queued certificates funded).")
    expired: Money = strawberry.field(description="Expired by this call.")
    carried: Money = strawberry.field(description="Carried into the municipality's next period by this call.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


NODES: dict[str, type[Node]] = {"FundingPeriod": FundingPeriod}
