"""Answers whose subtree their resolver completed: graphql-core takes them as they are.

A resolver that read a whole subtree in one statement and shaped it as the selection asks (aliases,
fragments, ``__typename``: the navigator's page, :mod:`pdo_graph.schema.navigator_answer`) returns
``Completed(data)``; the execution context below hands ``data`` on instead of resolving every field
of the subtree one by one (graphql-core costs microseconds per field, and a search page has
hundreds). The resolver only does so for selections it shapes exactly as field-by-field execution
would (a test compares both on generated queries); anything else it resolves the ordinary way.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfo
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class Completed:
    """The completed value of an object field (what the response holds at its place)."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


class CompletingExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, which takes a :class:`Completed` value as completed."""

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        if type(result) is Completed:
            return result.data
        return super().complete_object_value(return_type, field_details_list, info, path, result, position_context)
