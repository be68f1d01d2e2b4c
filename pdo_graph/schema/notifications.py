"""A person's in-app notifications (domain.md "Notifications and live updates").

The type is here with the subscription that announces new ones (``notificationAdded``); the
services that write notifications, ``viewer.notifications`` and ``notificationsMarkRead`` come
with the family-side issue.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from pdo_graph.domain.access import can_act_for_family
from pdo_graph.ids import encode_id
from pdo_graph.reads.notifications import NOTIFICATION, NotificationRow
from pdo_graph.schema.base import Node
from pdo_graph.schema.context import Context


@strawberry.type(description="An in-app notification of a guardian; only its recipient sees it.")
class Notification(Node):
    kind: str = strawberry.field(
        description="What happened, as a code (CERTIFICATE_ISSUED, ENROLLMENT_ACCEPTED, WAITLIST_OFFER, ...)."
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
        return can_act_for_family(ctx.actor, row.guardian_subject)


NODES: dict[str, type[Node]] = {"Notification": Notification}
