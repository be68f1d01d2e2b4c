"""The waitlist and plans: waitlist entries and offers, a plan of several groups; the inputs and
payloads of their mutations (domain.md "Waitlist, fair opening, planning")."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from pdo_graph.domain.access import can_read_family
from pdo_graph.domain.enrollment.plan import Plan as PlanResult
from pdo_graph.domain.enrollment.plan import PlanItem as PlanItemResult
from pdo_graph.ids import encode_id
from pdo_graph.reads.catalog import GROUP
from pdo_graph.reads.family import CERTIFICATE
from pdo_graph.reads.waitlist import WAITLIST_ENTRY, EntryRow
from pdo_graph.schema.base import Money, Node, SafeInt, UserError, describe_values, money
from pdo_graph.schema.catalog import Group
from pdo_graph.schema.context import Context
from pdo_graph.schema.enrollment import Enrollment, MonthlyShare
from pdo_graph.schema.family import Certificate


@strawberry.enum(description="Where a waitlist entry stands.")
class WaitlistState(Enum):
    WAITING = "WAITING"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    LAPSED = "LAPSED"
    LEFT = "LEFT"


describe_values(
    WaitlistState,
    {
        "WAITING": "In the queue (see position).",
        "OFFERED": "A seat is held for this entry until offerExpiresAt: accept or decline.",
        "ACCEPTED": "The offer was accepted: the application is the entry's enrollment.",
        "DECLINED": "The family declined the offer; the seat went to the next in line.",
        "LAPSED": "The offer was not answered in time; the seat went to the next in line.",
        "LEFT": "The family left the queue.",
    },
)


@strawberry.type(description="A certificate's place in the queue of a full group.")
class WaitlistEntry(Node):
    state: WaitlistState = strawberry.field(description="Where the entry stands.")
    position: int | None = strawberry.field(description="Place in the queue (1 is next) while WAITING; null otherwise.")
    offer_expires_at: datetime | None = strawberry.field(description="Until when an offered seat is held.")
    created_at: datetime = strawberry.field(description="When the certificate joined the queue.")
    pk: strawberry.Private[int]
    _group_id: strawberry.Private[int]
    _certificate_id: strawberry.Private[int]
    _enrollment_id: strawberry.Private[int | None]

    rows = WAITLIST_ENTRY

    @classmethod
    def from_row(cls, r: EntryRow) -> WaitlistEntry:
        return cls(
            id=strawberry.ID(encode_id("WaitlistEntry", r.id)),
            state=WaitlistState(r.state),
            position=None if r.position is None else int(r.position),
            offer_expires_at=r.offer_expires_at,
            created_at=r.created_at,
            pk=r.id,
            _group_id=r.group_id,
            _certificate_id=r.certificate_id,
            _enrollment_id=r.enrollment_id,
        )

    @classmethod
    def visible(cls, ctx: Context, row: EntryRow) -> bool:
        """The family's readers: the guardian, the operator of the certificate's municipality."""
        return can_read_family(ctx.actor, row.guardian_subject, row.municipality)

    @strawberry.field(description="The group.")
    async def group(self, info: Info[Context, None]) -> Group:
        row = await info.context.loaders[GROUP].load(self._group_id)
        assert row is not None
        return Group.from_row(row)

    @strawberry.field(description="The certificate that waits.")
    async def certificate(self, info: Info[Context, None]) -> Certificate:
        row = await info.context.loaders[CERTIFICATE].load(self._certificate_id)
        assert row is not None
        return Certificate.from_row(row)

    @strawberry.field(description="The application an accepted offer became.")
    async def enrollment(self, info: Info[Context, None]) -> Enrollment | None:
        return None if self._enrollment_id is None else await Enrollment.load(info.context, self._enrollment_id)


@strawberry.type(description="One group of a plan: what it costs given the groups before it.")
class PlanItem:
    from_certificate: Money = strawberry.field(description="Paid from the certificate for this group.")
    from_family: Money = strawberry.field(description="Co-paid by the family for this group.")
    available_after: Money = strawberry.field(
        description="The certificate's available balance after this group and the ones before it."
    )
    monthly: list[MonthlyShare] = strawberry.field(description="The monthly split of this group.")
    user_errors: list[UserError] = strawberry.field(
        description="Why applying for this group would fail now (such a group takes no money from the later ones)."
    )
    _group_id: strawberry.Private[int]

    @classmethod
    def of(cls, item: PlanItemResult, errors: list[UserError]) -> PlanItem:
        t = item.terms
        return cls(
            from_certificate=money(0 if t is None else t.from_certificate),
            from_family=money(0 if t is None else t.from_family),
            available_after=money(item.available_after),
            monthly=[] if t is None else [MonthlyShare.of(s) for s in t.monthly],
            user_errors=errors,
            _group_id=item.group_id,
        )

    @strawberry.field(description="The group (null when the id is unknown).")
    async def group(self, info: Info[Context, None]) -> Group | None:
        row = await info.context.loaders[GROUP].load(self._group_id)
        return None if row is None else Group.from_row(row)


@strawberry.type(description="Several groups quoted together for one certificate, in priority order.")
class Plan:
    items: list[PlanItem] = strawberry.field(description="The groups, in the order asked.")
    from_certificate: Money = strawberry.field(description="Paid from the certificate for the groups that would pass.")
    from_family: Money = strawberry.field(description="Co-paid by the family for the groups that would pass.")
    remaining_available: Money = strawberry.field(description="The certificate's available balance after the plan.")
    user_errors: list[UserError] = strawberry.field(description="Problems with the plan as a whole.")

    @classmethod
    def of(cls, result: PlanResult | None, items: list[PlanItem], errors: list[UserError]) -> Plan:
        return cls(
            items=items,
            from_certificate=money(0 if result is None else result.from_certificate),
            from_family=money(0 if result is None else result.from_family),
            remaining_available=money(0 if result is None else result.remaining),
            user_errors=errors,
        )


@strawberry.input(description="Queue a certificate for a full group.")
class WaitlistJoinInput:
    certificate_id: strawberry.ID = strawberry.field(description="The child's certificate.")
    group_id: strawberry.ID = strawberry.field(description="The full group.")


@strawberry.input(description="A waitlist entry of the caller's family.")
class WaitlistEntryInput:
    entry_id: strawberry.ID = strawberry.field(description="The entry.")


@strawberry.input(description="Accept an offered seat: it becomes an application (the usual money checks).")
class WaitlistOfferAcceptInput:
    entry_id: strawberry.ID = strawberry.field(description="The OFFERED entry.")
    idempotency_key: str = strawberry.field(description="Client-chosen key: a retry returns the first result.")
    expected_from_family: SafeInt | None = strawberry.field(
        default=None, description="Kopecks the family agreed to pay; a different recomputed share is QUOTE_CHANGED."
    )


@strawberry.type(description="Result of the waitlist mutations.")
class WaitlistPayload:
    entry: WaitlistEntry | None = strawberry.field(description="The entry as it is now.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Apply for every group of a plan at once, in priority order: all or none.")
class EnrollmentCreateManyInput:
    certificate_id: strawberry.ID = strawberry.field(description="The child's certificate.")
    group_ids: list[strawberry.ID] = strawberry.field(description="The groups, in priority order (1..20).")
    idempotency_key: str = strawberry.field(
        description="Client-chosen key (1..120 characters): a retry with the same plan returns the first result."
    )
    expected_from_family: SafeInt | None = strawberry.field(
        default=None,
        description="Kopecks the family agreed to pay in total (the plan's fromFamily); a different recomputed "
        "total refuses everything with QUOTE_CHANGED.",
    )


@strawberry.type(description="Result of enrollmentCreateMany.")
class EnrollmentCreateManyPayload:
    enrollments: list[Enrollment] = strawberry.field(description="The applications, in the plan's order.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing is written then).")


NODES: dict[str, type[Node]] = {"WaitlistEntry": WaitlistEntry}
