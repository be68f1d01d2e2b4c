"""A person's in-app notifications (domain.md "Notifications and live updates"): the type, the viewer's
inbox (``viewer.notifications``, ``viewer.unreadNotifications``) and ``notificationsMarkRead``'s input
and payload. ``pdo_graph.domain.notifications`` writes them; ``notificationAdded`` announces a guardian's.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from pdo_graph.domain.access import Role, can_act_for_family, can_act_for_provider
from pdo_graph.ids import encode_id
from pdo_graph.reads.notifications import NOTIFICATION, NotificationRow, inbox, inbox_counts
from pdo_graph.schema.base import Connection, Node, UserError, build_connection
from pdo_graph.schema.context import Context
from pdo_graph.schema.paging import page_args


@strawberry.type(
    description="An in-app notification of a guardian, or of a provider organisation (its staff share it);"
    " only its recipient sees it."
)
class Notification(Node):
    kind: str = strawberry.field(
        description=(
            "What happened, as a code. To guardians: CERTIFICATE_ISSUED, CERTIFICATE_REJECTED, FUNDED_FROM_QUEUE,"
            " ENROLLMENT_ACCEPTED, ENROLLMENT_REFUSED, ENROLLMENT_EXPIRED, CHARGE_POSTED, CERTIFICATE_EXPIRING,"
            " FUNDS_EXPIRING; to providers: APPLICATION_RECEIVED, APPLICATION_EXPIRING (more may come)."
        )
    )
    title: str = strawberry.field(description="Short title, as written for the recipient.")
    body: str = strawberry.field(description="The text.")
    created_at: datetime = strawberry.field(description="When it was added.")
    read_at: datetime | None = strawberry.field(description="When the recipient read it; null while unread.")

    rows = NOTIFICATION

    @classmethod
    def from_row(cls, r: NotificationRow) -> Notification:
        return cls(
            id=strawberry.ID(encode_id("Notification", r.id)),
            kind=r.kind,
            title=r.title,
            body=r.body,
            created_at=r.created_at,
            read_at=r.read_at,
        )

    @classmethod
    def visible(cls, ctx: Context, row: NotificationRow) -> bool:
        """Its recipient only."""
        if row.guardian_subject is not None:
            return can_act_for_family(ctx.actor, row.guardian_subject)
        return row.provider_id is not None and can_act_for_provider(ctx.actor, row.provider_id)


def _recipient(ctx: Context) -> tuple[str | None, int | None] | None:
    """The caller's inbox: a guardian's subject, or a provider organisation; None for everyone else."""
    actor = ctx.actor
    if actor.role is Role.GUARDIAN and actor.subject is not None:
        return actor.subject, None
    if actor.role is Role.PROVIDER and actor.provider_id is not None:
        return None, actor.provider_id
    return None


async def viewer_notifications(
    ctx: Context, first: int, after: str | None, unread_only: bool
) -> Connection[Notification]:
    """The caller's notifications, newest first (guardians and providers; others: an empty list)."""
    first, key = page_args(first, after, ctx.lang, (int,))
    who = _recipient(ctx)
    if who is None:
        return build_connection([], first, 0, lambda r: [r.id], Notification.from_row, after)
    rows = await inbox(ctx.scope, who[0], who[1], first, key[0] if key else None, unread_only)
    total, unread = await inbox_counts(ctx.scope, who[0], who[1])
    return build_connection(
        rows, first, unread if unread_only else total, lambda r: [r.id], Notification.from_row, after
    )


async def viewer_unread(ctx: Context) -> int:
    who = _recipient(ctx)
    return 0 if who is None else (await inbox_counts(ctx.scope, who[0], who[1]))[1]


@strawberry.input(description="Mark notifications read: the caller's own, all or none.")
class NotificationsMarkReadInput:
    ids: list[strawberry.ID] = strawberry.field(description="The notifications (at most 100).")


@strawberry.type(description="Result of notificationsMarkRead.")
class NotificationsMarkReadPayload:
    unread: int = strawberry.field(description="How many of the caller's notifications stay unread (0 when refused).")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


NODES: dict[str, type[Node]] = {"Notification": Notification}
