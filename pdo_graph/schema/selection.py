"""A selection's fields as graphql-core's executor collects them, for the compiled paths (the
navigator's page, :mod:`pdo_graph.schema.navigator_answer`; the compiled plans of
:mod:`pdo_graph.transport.plans`), which compile a document once whatever its variables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    SelectionSetNode,
    is_abstract_type,
)


def collect_fields(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    runtime: GraphQLObjectType,
    selection_sets: Iterable[SelectionSetNode],
    refuse: type[Exception],
) -> dict[str, list[FieldNode]]:
    """The fields of the merged ``selection_sets`` on the object type ``runtime``, by response key in
    the selection's order, each with its nodes; fragments that apply to ``runtime`` are followed, each
    once. A directive (``@skip``/``@include`` depend on variables) or an unknown fragment raises
    ``refuse``: the caller leaves the document to the general path."""
    fields: dict[str, list[FieldNode]] = {}
    visited: set[str] = set()

    def applies(condition: NamedTypeNode | None) -> bool:
        if condition is None:
            return True
        named: Any = schema.get_type(condition.name.value)
        return named is runtime or (is_abstract_type(named) and schema.is_sub_type(named, runtime))

    def visit(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if selection.directives:
                raise refuse("directives")
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if applies(selection.type_condition):
                    visit(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None:
                    raise refuse("unknown fragment")
                if name not in visited:
                    visited.add(name)
                    if applies(fragment.type_condition):
                        visit(fragment.selection_set)

    for selection_set in selection_sets:
        visit(selection_set)
    return fields
