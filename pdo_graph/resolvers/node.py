"""``node(id)`` and ``nodes(ids)``: every Node type resolved through its visibility-checked ``load``
(``NODES`` of each schema area)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from pdo_graph.domain.messages import render
from pdo_graph.ids import decode_id
from pdo_graph.schema import (
    audit,
    catalog,
    enrollment,
    family,
    notifications,
    periods,
    reviews,
    settlement,
    sources,
    sync,
)
from pdo_graph.schema.base import Node
from pdo_graph.schema.context import Context

NODES: dict[str, type[Node]] = {
    **family.NODES,
    **periods.NODES,
    **catalog.NODES,
    **enrollment.NODES,
    **reviews.NODES,
    **audit.NODES,
    **sources.NODES,
    **sync.NODES,
    **notifications.NODES,
    **settlement.NODES,
}
NODE_TYPES: list[type] = list(NODES.values())
PUBLIC_NODE_TYPES = frozenset(name for name, node_type in NODES.items() if node_type.public)
"""Node types whose answers are the same for everyone (their anonymous GETs may be cached)."""


async def resolve_node(ctx: Context, global_id: str) -> Node | None:
    decoded = decode_id(global_id)
    if decoded is None:
        return None
    node_type = NODES.get(decoded[0])
    if node_type is None:
        return None
    try:
        pk = int(decoded[1])
    except ValueError:
        return None
    if not 0 < pk < 2**63:
        return None
    node: Node | None = await node_type.load(ctx, pk)
    return node


MAX_NODES = 100


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global ID; null when absent or not yours to see.")
    async def node(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The object's global ID.")],
    ) -> Node | None:
        return await resolve_node(info.context, id)

    @strawberry.field(
        description=(
            f"Objects by their global IDs (at most {MAX_NODES}), in the order asked; null for each one that is"
            " absent or not yours to see, as with node."
        )
    )
    async def nodes(
        self,
        info: Info[Context, None],
        ids: Annotated[list[strawberry.ID], strawberry.argument(description=f"Global IDs, at most {MAX_NODES}.")],
    ) -> list[Node | None]:
        ctx = info.context
        if len(ids) > MAX_NODES:
            raise GraphQLError(
                render("too_many_ids", ctx.lang, {"max": MAX_NODES}),
                extensions={"code": "BAD_USER_INPUT", "field": ["ids"]},
            )
        return list(await asyncio.gather(*(resolve_node(ctx, i) for i in ids)))
