"""Root field of notifications: ``notificationsMarkRead`` (the inbox itself is ``viewer.notifications``)."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from pdo_graph.domain import notifications
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.ids import decode_pk
from pdo_graph.schema.base import Input
from pdo_graph.schema.context import Context
from pdo_graph.schema.notifications import NotificationsMarkReadInput, NotificationsMarkReadPayload

from .common import run_write

INPUT = ["input"]
MAX_IDS = 100


@strawberry.type
class NotificationsMutation:
    @strawberry.mutation(
        description="Guardian or provider: mark own notifications read, all or none (an id that is not the caller's"
        " is NOT_FOUND); returns how many stay unread."
    )
    async def notifications_mark_read(
        self, info: Info[Context, None], input: Input[NotificationsMarkReadInput]
    ) -> NotificationsMarkReadPayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            if len(input.ids) > MAX_IDS:
                raise DomainError.of(ErrorCode.LIMIT_EXCEEDED, "notifications_too_many", ["ids"], max=MAX_IDS)
            return await notifications.mark_read(c, ctx.actor, [decode_pk(i, "Notification") for i in input.ids])

        unread, errors = await run_write(ctx, work, INPUT)
        return NotificationsMarkReadPayload(unread=unread or 0, user_errors=errors)
