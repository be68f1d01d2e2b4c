"""Root fields of the families' side: the viewer, a certificate by number, and the certificate
mutations (apply, issue, freeze, unfreeze, revoke)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.crypto import personal_data_keys
from pdo_graph.domain import certificates
from pdo_graph.domain.access import Role
from pdo_graph.domain.certificates import CertificateStatus
from pdo_graph.domain.messages import render
from pdo_graph.reads.family import ApplicationRow, application_queue, certificate_id_by_number
from pdo_graph.resolvers.common import INPUT, pk_of, run_write
from pdo_graph.schema.base import After, Connection, First, Input, build_connection
from pdo_graph.schema.context import Context
from pdo_graph.schema.family import (
    Certificate,
    CertificateApplication,
    CertificateApplicationPayload,
    CertificateApplicationRejectInput,
    CertificateApplicationStatus,
    CertificateApplyInput,
    CertificateApplyPayload,
    CertificateIssueInput,
    CertificateIssuePayload,
    CertificatePayload,
    CertificateStatusInput,
    Viewer,
)
from pdo_graph.schema.paging import page_args


@strawberry.type
class FamilyQuery:
    @strawberry.field(description="Who am I; anonymous allowed.")
    def viewer(self, info: Info[Context, None]) -> Viewer:
        actor = info.context.actor
        return Viewer(role=actor.role, subject=actor.subject, municipality=actor.municipality)

    @strawberry.field(
        description="A certificate by its number: its guardian or an operator of its municipality. The number of"
        " another region's certificate is a WRONG_REGION error naming that region (`extensions.region`)."
    )
    async def certificate_by_number(
        self,
        info: Info[Context, None],
        number: Annotated[
            str, strawberry.argument(description="The certificate number: region (2) + municipality (2) + 6 digits.")
        ],
    ) -> Certificate | None:
        ctx = info.context
        number = number.strip()
        region = certificates.other_region(number, ctx.settings.region_code)
        if region is not None:  # another region's deployment holds it (one database per region): say which
            message = render("certificate_other_region", ctx.lang, {"region": region})
            raise GraphQLError(message, extensions={"code": "WRONG_REGION", "region": region})
        pk = await certificate_id_by_number(ctx.scope, number)
        return None if pk is None else await Certificate.load(ctx, pk)

    @strawberry.field(description="Operator: the verification queue of its municipality, oldest first (others: empty).")
    async def certificate_applications(
        self,
        info: Info[Context, None],
        first: First,
        after: After = None,
        status: Annotated[
            CertificateApplicationStatus | None, strawberry.argument(description="Only applications in this status.")
        ] = None,
        search: Annotated[
            str | None, strawberry.argument(description="A part of the child's name (case and ё/е do not matter).")
        ] = None,
    ) -> Connection[CertificateApplication]:
        ctx = info.context
        first, key = page_args(first, after, ctx.lang, (int,))
        rows: list[ApplicationRow] = []
        total = 0
        actor = ctx.actor
        if actor.role is Role.OPERATOR and actor.municipality is not None:
            wanted = (
                None if search is None or not search.strip() else " ".join(search.split()).lower().replace("ё", "е")
            )
            rows, total = await application_queue(
                ctx.scope,
                actor.municipality,
                None if status is None else status.value,
                wanted,
                key[0] if key else None,
                first + 1,
            )
        return build_connection(rows, first, total, lambda r: [r.id], CertificateApplication.from_row, after)


@strawberry.type
class FamilyMutation:
    @strawberry.mutation(description="Guardian: apply for a child's certificate (once per child).")
    async def certificate_apply(
        self, info: Info[Context, None], input: Input[CertificateApplyInput]
    ) -> CertificateApplyPayload:
        ctx = info.context
        req = certificates.ApplicationRequest(input.full_name, input.birth_date, input.snils, input.municipality)
        keys = personal_data_keys(ctx.settings)
        app_id, errors = await run_write(ctx, lambda c: certificates.apply(c, ctx.actor, req, ctx.today, keys), INPUT)
        app = None if app_id is None else await CertificateApplication.load(ctx, app_id)
        return CertificateApplyPayload(application=app, user_errors=errors)

    @strawberry.mutation(description="Operator: issue the certificate for a verified application.")
    async def certificate_issue(
        self, info: Info[Context, None], input: Input[CertificateIssueInput]
    ) -> CertificateIssuePayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            pk = pk_of(input.application_id, "CertificateApplication", certificates.APPLICATION)
            return await certificates.issue(c, ctx.actor, pk, ctx.today, ctx.settings.region_code)

        cert_id, errors = await run_write(ctx, work, INPUT)
        cert = None if cert_id is None else await Certificate.load(ctx, cert_id)
        return CertificateIssuePayload(certificate=cert, user_errors=errors)

    @strawberry.mutation(
        description="Operator: reject an application with a reason; the guardian sees it and may apply again."
    )
    async def certificate_application_reject(
        self, info: Info[Context, None], input: Input[CertificateApplicationRejectInput]
    ) -> CertificateApplicationPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            pk = pk_of(input.application_id, "CertificateApplication", certificates.APPLICATION)
            return await certificates.reject(c, ctx.actor, pk, input.reason)

        app_id, errors = await run_write(ctx, work, INPUT)
        app = None if app_id is None else await CertificateApplication.load(ctx, app_id)
        return CertificateApplicationPayload(application=app, user_errors=errors)

    @strawberry.mutation(description="Operator: freeze a certificate without running contracts.")
    async def certificate_freeze(
        self, info: Info[Context, None], input: Input[CertificateStatusInput]
    ) -> CertificatePayload:
        return await _change_status(info.context, input, CertificateStatus.FROZEN)

    @strawberry.mutation(description="Operator: unfreeze a frozen certificate.")
    async def certificate_unfreeze(
        self, info: Info[Context, None], input: Input[CertificateStatusInput]
    ) -> CertificatePayload:
        return await _change_status(info.context, input, CertificateStatus.ACTIVE)

    @strawberry.mutation(
        description="Operator: revoke a certificate; its applications and contracts end (charged months stay"
        " charged, reserves are released, seats freed)."
    )
    async def certificate_revoke(
        self, info: Info[Context, None], input: Input[CertificateStatusInput]
    ) -> CertificatePayload:
        return await _change_status(info.context, input, CertificateStatus.REVOKED)


async def _change_status(ctx: Context, input: CertificateStatusInput, target: CertificateStatus) -> CertificatePayload:
    async def work(c: AsyncConnection) -> int:
        pk = pk_of(input.certificate_id, "Certificate", certificates.CERTIFICATE)
        await certificates.change_status(c, ctx.actor, pk, target, input.reason)
        return pk

    pk, errors = await run_write(ctx, work, INPUT)
    cert = None if pk is None else await Certificate.load(ctx, pk)
    return CertificatePayload(certificate=cert, user_errors=errors)
