"""``node(id)``: every Node type resolved through its visibility-checked ``load`` (``NODES`` of each
schema area)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from pdo_graph.ids import decode_id
from pdo_graph.schema import audit, catalog, enrollment, family, notifications, periods, reviews, sources, sync
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
}
NODE_TYPES: list[type] = list(NODES.values())


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


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global ID; null when absent or not yours to see.")
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        return await resolve_node(info.context, id)
