"""Queries and mutations of families and operators: certificates and funding periods."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry.types import Info

from pdo_graph.crypto import personal_data_keys
from pdo_graph.domain import certificates, periods
from pdo_graph.domain.certificates import CertificateStatus as DomainCertificateStatus
from pdo_graph.resolvers.common import INPUT, pk_of, run_write
from pdo_graph.schema.base import Money, Role, SafeInt, UserError, money
from pdo_graph.schema.context import Context
from pdo_graph.schema.family import (
    Certificate,
    CertificateApplication,
    FundingPeriod,
    Municipality,
    Viewer,
    certificate_by_number,
    load_application,
    load_certificate,
    load_period,
    municipalities,
)


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


@strawberry.input(description="Change a certificate's status.")
class CertificateStatusInput:
    certificate_id: strawberry.ID = strawberry.field(description="The certificate.")
    reason: str | None = strawberry.field(default=None, description="Why (kept with the certificate).")


@strawberry.type(description="Result of a certificate status change.")
class CertificatePayload:
    certificate: Certificate | None = strawberry.field(description="The certificate.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


ProrationRule = strawberry.enum(
    periods.Proration, name="ProrationRule", description="How certificates issued mid-period are credited."
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


@strawberry.type(description="Result of fundingPeriodOpen.")
class FundingPeriodOpenPayload:
    period: FundingPeriod | None = strawberry.field(description="The period.")
    credited: Money = strawberry.field(description="Credited by this call (zero when repeated).")
    certificates_credited: int = strawberry.field(description="Certificates credited by this call.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Change a period's limit or its applications switch.")
class FundingPeriodUpdateInput:
    period_id: strawberry.ID = strawberry.field(description="The period.")
    funded_certificate_limit: int | None = strawberry.field(
        default=strawberry.UNSET, description="New limit (raising it funds the queue in order); null: none."
    )
    open_for_applications: bool | None = strawberry.field(default=None, description="Accept applications.")


@strawberry.input(description="Close a period: what is left available expires.")
class FundingPeriodCloseInput:
    period_id: strawberry.ID = strawberry.field(description="The period.")


@strawberry.type(description="Result of fundingPeriodUpdate and fundingPeriodClose.")
class FundingPeriodPayload:
    period: FundingPeriod | None = strawberry.field(description="The period.")
    credited: Money = strawberry.field(description="Credited by this call (queued certificates funded).")
    expired: Money = strawberry.field(description="Expired by this call.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type
class FamilyQuery:
    @strawberry.field(description="Who am I; anonymous allowed.")
    def viewer(self, info: Info[Context, None]) -> Viewer:
        p = info.context.actor
        return Viewer(
            role=None if p.role is None else Role(p.role.value),
            subject=p.subject,
            municipality=p.municipality,
            _ctx=None,
        )

    @strawberry.field(description="A certificate by its number: its guardian or an operator of its municipality.")
    async def certificate_by_number(self, info: Info[Context, None], number: str) -> Certificate | None:
        return await certificate_by_number(info.context, number)

    @strawberry.field(description="Municipalities of the region (public).")
    async def municipalities(self, info: Info[Context, None]) -> list[Municipality]:
        return await municipalities(info.context)


@strawberry.type
class FamilyMutation:
    @strawberry.mutation(description="Guardian: apply for a child's certificate (once per child).")
    async def certificate_apply(
        self, info: Info[Context, None], input: CertificateApplyInput
    ) -> CertificateApplyPayload:
        ctx = info.context
        req = certificates.ApplicationRequest(input.full_name, input.birth_date, input.snils, input.municipality)
        keys = personal_data_keys(ctx.settings)
        app_id, errors = await run_write(ctx, lambda c: certificates.apply(c, ctx.actor, req, ctx.today, keys), INPUT)
        app = None if app_id is None else await load_application(ctx, app_id)
        return CertificateApplyPayload(application=app, user_errors=errors)

    @strawberry.mutation(description="Operator: issue the certificate for a verified application.")
    async def certificate_issue(
        self, info: Info[Context, None], input: CertificateIssueInput
    ) -> CertificateIssuePayload:
        ctx = info.context

        async def work(c):  # type: ignore[no-untyped-def]
            pk = pk_of(input.application_id, "CertificateApplication", certificates.APPLICATION)
            return await certificates.issue(c, ctx.actor, pk, ctx.today, ctx.settings.region_code)

        cert_id, errors = await run_write(ctx, work, INPUT)
        cert = None if cert_id is None else await load_certificate(ctx, cert_id)
        return CertificateIssuePayload(certificate=cert, user_errors=errors)

    @strawberry.mutation(description="Operator: freeze a certificate without running contracts.")
    async def certificate_freeze(self, info: Info[Context, None], input: CertificateStatusInput) -> CertificatePayload:
        return await _change_status(info.context, input, DomainCertificateStatus.FROZEN)

    @strawberry.mutation(description="Operator: unfreeze a frozen certificate.")
    async def certificate_unfreeze(
        self, info: Info[Context, None], input: CertificateStatusInput
    ) -> CertificatePayload:
        return await _change_status(info.context, input, DomainCertificateStatus.ACTIVE)

    @strawberry.mutation(
        description="Operator: revoke a certificate; its applications and contracts end (charged months stay"
        " charged, reserves are released, seats freed)."
    )
    async def certificate_revoke(self, info: Info[Context, None], input: CertificateStatusInput) -> CertificatePayload:
        return await _change_status(info.context, input, DomainCertificateStatus.REVOKED)

    @strawberry.mutation(
        description="Operator: open a funding period; credits every active certificate of the municipality once."
    )
    async def funding_period_open(
        self, info: Info[Context, None], input: FundingPeriodOpenInput
    ) -> FundingPeriodOpenPayload:
        ctx = info.context
        req = periods.PeriodRequest(
            municipality=input.municipality,
            starts_on=input.starts_on,
            ends_on=input.ends_on,
            nominals=[periods.Nominal(n.min_age, n.max_age, n.kopecks) for n in input.nominals],
            funded_limit=input.funded_certificate_limit,
            proration=periods.Proration(input.proration),
            open_for_applications=input.open_for_applications,
            cap_at_normative=input.cap_at_normative,
        )
        result, errors = await run_write(ctx, lambda c: periods.open_period(c, ctx.actor, req), INPUT)
        if result is None:
            return FundingPeriodOpenPayload(period=None, credited=money(0), certificates_credited=0, user_errors=errors)
        return FundingPeriodOpenPayload(
            period=await load_period(ctx, result.period_id),
            credited=money(result.credited),
            certificates_credited=result.certificates_credited,
            user_errors=[],
        )

    @strawberry.mutation(description="Operator: change a period's limit (funding the queue in order) or switch.")
    async def funding_period_update(
        self, info: Info[Context, None], input: FundingPeriodUpdateInput
    ) -> FundingPeriodPayload:
        ctx = info.context
        limit_given = input.funded_certificate_limit is not strawberry.UNSET

        async def work(c):  # type: ignore[no-untyped-def]
            pk = pk_of(input.period_id, "FundingPeriod", periods.PERIOD)
            limit = input.funded_certificate_limit if limit_given else None
            credited, _ = await periods.update_period(c, ctx.actor, pk, limit, limit_given, input.open_for_applications)
            return pk, credited

        result, errors = await run_write(ctx, work, INPUT)
        if result is None:
            return FundingPeriodPayload(period=None, credited=money(0), expired=money(0), user_errors=errors)
        return FundingPeriodPayload(
            period=await load_period(ctx, result[0]), credited=money(result[1]), expired=money(0), user_errors=[]
        )

    @strawberry.mutation(
        description="Operator: close a period; its contracts end and unused money expires (EXPIRE entries)."
    )
    async def funding_period_close(
        self, info: Info[Context, None], input: FundingPeriodCloseInput
    ) -> FundingPeriodPayload:
        ctx = info.context

        async def work(c):  # type: ignore[no-untyped-def]
            pk = pk_of(input.period_id, "FundingPeriod", periods.PERIOD)
            expired = await periods.close_period(c, ctx.actor, pk)
            return pk, expired

        result, errors = await run_write(ctx, work, INPUT)
        if result is None:
            return FundingPeriodPayload(period=None, credited=money(0), expired=money(0), user_errors=errors)
        return FundingPeriodPayload(
            period=await load_period(ctx, result[0]), credited=money(0), expired=money(result[1]), user_errors=[]
        )


async def _change_status(
    ctx: Context, input: CertificateStatusInput, target: DomainCertificateStatus
) -> CertificatePayload:
    async def work(c):  # type: ignore[no-untyped-def]
        pk = pk_of(input.certificate_id, "Certificate", certificates.CERTIFICATE)
        await certificates.change_status(c, ctx.actor, pk, target, input.reason)
        return pk

    pk, errors = await run_write(ctx, work, INPUT)
    cert = None if pk is None else await load_certificate(ctx, pk)
    return CertificatePayload(certificate=cert, user_errors=errors)
