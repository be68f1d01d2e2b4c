"""Root fields of the waitlist and plans: plan; waitlistJoin, waitlistLeave, waitlistOfferAccept,
waitlistOfferDecline, enrollmentCreateMany."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.domain.enrollment import plan as plans
from pdo_graph.domain.enrollment import waitlist
from pdo_graph.domain.errors import DomainError
from pdo_graph.resolvers.common import INPUT, pk_of, require_auth, run_write
from pdo_graph.schema.base import Input, UserError, user_errors
from pdo_graph.schema.context import Context
from pdo_graph.schema.enrollment import Enrollment, EnrollmentPayload
from pdo_graph.schema.waitlist import (
    EnrollmentCreateManyInput,
    EnrollmentCreateManyPayload,
    Plan,
    PlanItem,
    WaitlistEntry,
    WaitlistEntryInput,
    WaitlistJoinInput,
    WaitlistOfferAcceptInput,
    WaitlistPayload,
)


def _group_pks(ids: list[strawberry.ID]) -> list[int]:
    return [pk_of(g, "Group", ["groupIds", str(n)]) for n, g in enumerate(ids)]


@strawberry.type
class WaitlistQuery:
    @strawberry.field(
        description="Several groups quoted together for one certificate, in priority order: what the certificate "
        "and the family pay for each, month by month, the balance left after each, and why a group would fail. "
        "The guardian of the certificate or the operator of its municipality."
    )
    async def plan(
        self,
        info: Info[Context, None],
        certificate_id: Annotated[strawberry.ID, strawberry.argument(description="The certificate that pays.")],
        group_ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="The groups, in priority order (1..20).")
        ],
    ) -> Plan:
        ctx = info.context
        require_auth(ctx)
        try:
            cert = pk_of(certificate_id, "Certificate", ["certificateId"])
            groups = _group_pks(group_ids)
        except DomainError as exc:
            return Plan.of(None, [], user_errors(exc.problems, ctx.lang))
        result = await ctx.db.read(lambda c: plans.plan(c, ctx.actor, cert, groups, ctx.today))
        items = [PlanItem.of(i, user_errors(i.problems, ctx.lang)) for i in result.items]
        return Plan.of(result, items, user_errors(result.problems, ctx.lang))


async def _entry_payload(ctx: Context, entry_id: int | None, errors: list[UserError]) -> WaitlistPayload:
    node = None if entry_id is None else await WaitlistEntry.load(ctx, entry_id)
    return WaitlistPayload(entry=node, user_errors=errors)


async def _on_entry(
    ctx: Context, entry_id: str, action: Callable[[AsyncConnection, int], Awaitable[int]]
) -> WaitlistPayload:
    async def work(c: AsyncConnection) -> int:
        return await action(c, pk_of(entry_id, "WaitlistEntry", ["entryId"]))

    pk, errors = await run_write(ctx, work, INPUT)
    return await _entry_payload(ctx, pk, errors)


@strawberry.type
class WaitlistMutation:
    @strawberry.mutation(
        description="Guardian: apply for every group of a plan at once, in priority order, all or none; the money "
        "flows from one group to the next as in `plan`."
    )
    async def enrollment_create_many(
        self, info: Info[Context, None], input: Input[EnrollmentCreateManyInput]
    ) -> EnrollmentCreateManyPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> list[int]:
            cert = pk_of(input.certificate_id, "Certificate", ["certificateId"])
            groups = _group_pks(input.group_ids)
            return await plans.create_many(
                c, ctx.actor, cert, groups, input.idempotency_key, ctx.today, input.expected_from_family
            )

        ids, errors = await run_write(ctx, work, INPUT)
        nodes = [await Enrollment.load(ctx, pk) for pk in ids or []]
        return EnrollmentCreateManyPayload(enrollments=[n for n in nodes if n is not None], user_errors=errors)

    @strawberry.mutation(description="Guardian: queue a certificate for a full group (FIFO, one place per child).")
    async def waitlist_join(self, info: Info[Context, None], input: Input[WaitlistJoinInput]) -> WaitlistPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            cert = pk_of(input.certificate_id, "Certificate", ["certificateId"])
            group = pk_of(input.group_id, "Group", ["groupId"])
            return await waitlist.join(c, ctx.actor, cert, group, ctx.today)

        pk, errors = await run_write(ctx, work, INPUT)
        return await _entry_payload(ctx, pk, errors)

    @strawberry.mutation(description="Guardian: leave a group's queue (a held offer passes to the next in line).")
    async def waitlist_leave(self, info: Info[Context, None], input: Input[WaitlistEntryInput]) -> WaitlistPayload:
        ctx = info.context
        hours = ctx.settings.waitlist_offer_hours
        return await _on_entry(ctx, input.entry_id, lambda c, pk: waitlist.leave(c, ctx.actor, pk, hours))

    @strawberry.mutation(
        description="Guardian: accept an offered seat; it becomes an application (REQUESTED) with the usual money "
        "checks. OFFER_EXPIRED when the offer lapsed."
    )
    async def waitlist_offer_accept(
        self, info: Info[Context, None], input: Input[WaitlistOfferAcceptInput]
    ) -> EnrollmentPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            entry = pk_of(input.entry_id, "WaitlistEntry", ["entryId"])
            return await waitlist.accept(
                c, ctx.actor, entry, input.idempotency_key, ctx.today, input.expected_from_family
            )

        eid, errors = await run_write(ctx, work, INPUT)
        node = None if eid is None else await Enrollment.load(ctx, eid)
        return EnrollmentPayload(enrollment=node, user_errors=errors)

    @strawberry.mutation(description="Guardian: decline an offered seat; it is offered to the next in line at once.")
    async def waitlist_offer_decline(
        self, info: Info[Context, None], input: Input[WaitlistEntryInput]
    ) -> WaitlistPayload:
        ctx = info.context
        hours = ctx.settings.waitlist_offer_hours
        return await _on_entry(ctx, input.entry_id, lambda c, pk: waitlist.decline(c, ctx.actor, pk, hours))
