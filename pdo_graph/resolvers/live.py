"""Root fields of subscriptions (served over WebSocket, ``graphql-transport-ws``).

Each is authorised when it starts, by the rules of the queries: what a caller could not read with
``node(id)`` it cannot follow, and a refusal is the operation's ``error`` before anything is sent.
Then each change committed by any process (:mod:`pdo_graph.live`) makes it read the object afresh
with the subscriber's own actor; an object that has become invisible or gone ends it with an error.
The first three send the current state at once, then one result after every change.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from pdo_graph.domain.access import Role
from pdo_graph.domain.messages import render
from pdo_graph.ids import decode_pk
from pdo_graph.live import Topic, notification_key
from pdo_graph.reads.notifications import ADDED_AT_MOST, newest_notification_id, notifications_after
from pdo_graph.resolvers.common import require_auth
from pdo_graph.schema.base import Node
from pdo_graph.schema.catalog import Group
from pdo_graph.schema.context import Context
from pdo_graph.schema.enrollment import Enrollment
from pdo_graph.schema.family import Balance, Certificate
from pdo_graph.schema.notifications import Notification

N = TypeVar("N", bound=Node)


def _not_found(ctx: Context) -> GraphQLError:
    return GraphQLError(render("live_not_found", ctx.lang, {}), extensions={"code": "NOT_FOUND"})


def _pk(ctx: Context, global_id: str, type_name: str) -> int:
    pk = decode_pk(global_id, type_name)
    if pk is None:
        raise _not_found(ctx)
    return pk


async def _visible(ctx: Context, node_type: type[N], pk: int) -> N:
    """The object as the subscriber may see it now, or the error that ends the subscription."""
    found = await node_type.load(ctx, pk)
    if found is None:
        raise _not_found(ctx)
    return found


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        description="Anyone: the group at once, then after every change of its seats (seats taken or capacity), "
        "whichever server process made it."
    )
    async def group_seats(
        self,
        info: Info[Context, None],
        group_id: Annotated[strawberry.ID, strawberry.argument(description="The group to follow.")],
    ) -> AsyncGenerator[Group, None]:
        ctx = info.context
        pk = _pk(ctx, group_id, "Group")
        async with aclosing(ctx.changes(Topic.GROUP, pk)) as beats:
            async for _ in beats:
                yield await _visible(ctx, Group, pk)

    @strawberry.subscription(
        description="The certificate's guardian (or the operator of its municipality): its balance in the "
        "current period at once, then after every credit, reservation, release, charge or expiry."
    )
    async def certificate_balance(
        self,
        info: Info[Context, None],
        certificate_id: Annotated[strawberry.ID, strawberry.argument(description="The certificate to follow.")],
    ) -> AsyncGenerator[Balance, None]:
        ctx = info.context
        require_auth(ctx)
        pk = _pk(ctx, certificate_id, "Certificate")
        async with aclosing(ctx.changes(Topic.CERTIFICATE, pk)) as beats:
            async for _ in beats:
                await _visible(ctx, Certificate, pk)
                yield await Balance.of_certificate(ctx, pk)

    @strawberry.subscription(
        description="Guardian: each notification added for the caller from now on (nothing is sent at once)."
    )
    async def notification_added(self, info: Info[Context, None]) -> AsyncGenerator[Notification, None]:
        ctx = info.context
        require_auth(ctx)
        subject = ctx.actor.subject
        if ctx.actor.role is not Role.GUARDIAN or subject is None:
            raise GraphQLError(render("forbidden", ctx.lang, {}), extensions={"code": "FORBIDDEN"})
        seen: int | None = None
        async with aclosing(ctx.changes(Topic.NOTIFICATION, notification_key(subject))) as beats:
            async for _ in beats:
                if seen is None:
                    seen = await newest_notification_id(ctx.scope, subject)
                    continue
                while rows := await notifications_after(ctx.scope, subject, seen):
                    for row in rows:
                        seen = row.id
                        if Notification.visible(ctx, row):
                            yield Notification.from_row(row)
                    if len(rows) < ADDED_AT_MOST:
                        break

    @strawberry.subscription(
        description="The enrollment's guardian, the provider of its group (or the operator of the family's "
        "municipality): the enrollment at once, then after every change of its status."
    )
    async def enrollment_updated(
        self,
        info: Info[Context, None],
        enrollment_id: Annotated[strawberry.ID, strawberry.argument(description="The enrollment to follow.")],
    ) -> AsyncGenerator[Enrollment, None]:
        ctx = info.context
        require_auth(ctx)
        pk = _pk(ctx, enrollment_id, "Enrollment")
        async with aclosing(ctx.changes(Topic.ENROLLMENT, pk)) as beats:
            async for _ in beats:
                yield await _visible(ctx, Enrollment, pk)
