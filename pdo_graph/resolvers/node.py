"""``node(id)``: every Node type resolved through its visibility-checked loader."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from pdo_graph.ids import decode_id
from pdo_graph.schema import audit, catalog, enrollment, family
from pdo_graph.schema.base import Node
from pdo_graph.schema.context import Context

NODE_LOADERS: dict[str, Callable[[Context, int], Awaitable[Any]]] = {
    **family.NODE_LOADERS,
    **catalog.NODE_LOADERS,
    **enrollment.NODE_LOADERS,
    **audit.NODE_LOADERS,
}


def register_node_loader(type_name: str, loader: Callable[[Context, int], Awaitable[Any]]) -> None:
    NODE_LOADERS[type_name] = loader


async def resolve_node(ctx: Context, global_id: str) -> Node | None:
    decoded = decode_id(global_id)
    if decoded is None:
        return None
    loader = NODE_LOADERS.get(decoded[0])
    if loader is None:
        return None
    try:
        pk = int(decoded[1])
    except ValueError:
        return None
    if not 0 < pk < 2**63:
        return None
    node: Node | None = await loader(ctx, pk)
    return node


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global ID; null when absent or not yours to see.")
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        return await resolve_node(info.context, id)
