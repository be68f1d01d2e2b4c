"""Query cost: ``first`` multipliers down the selection, computed before execution.

cost(field) = 1 + multiplier × Σ cost(children), where the multiplier is the field's ``first``
argument (connections) or 1. Fragments are expanded; introspection fields cost 1 each.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    parse,
)

MAX_FRAGMENT_DEPTH = 50

# A C-speed approximation of the GraphQL lexer (names, numbers, strings, punctuators; comments
# skipped): graphql-core's own lexer costs ~15 µs a token, too slow to meet a hostile document.
_TOKEN = re.compile(
    r'#[^\n\r]*|"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|\.\.\.|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[_A-Za-z][_0-9A-Za-z]*|[!$&():=@\[\]{}|]'
)


def count_tokens(query: str) -> int:
    """About how many lexical tokens the document has (comments excluded)."""
    return sum(1 for m in _TOKEN.finditer(query) if not m.group().startswith("#"))


@lru_cache(maxsize=512)
def parse_cached(query: str, max_tokens: int | None = None) -> DocumentNode:
    """Parse once per distinct document; parsing stops at ``max_tokens``."""
    return parse(query, max_tokens=max_tokens)


def _multiplier(field: FieldNode, variables: dict[str, Any]) -> int:
    for arg in field.arguments or ():
        if arg.name.value != "first":
            continue
        value = arg.value
        if isinstance(value, IntValueNode):
            return max(1, int(value.value))
        if isinstance(value, VariableNode):
            raw = variables.get(value.name.value)
            if isinstance(raw, int) and not isinstance(raw, bool):
                return max(1, raw)
    return 1


def _selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    depth: int,
) -> int:
    if selection_set is None:
        return 0
    if depth > MAX_FRAGMENT_DEPTH:
        raise GraphQLError("Слишком глубокий запрос")
    total = 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            children = _selection_cost(sel.selection_set, fragments, variables, depth + 1)
            total += 1 + _multiplier(sel, variables) * children
        elif isinstance(sel, InlineFragmentNode):
            total += _selection_cost(sel.selection_set, fragments, variables, depth + 1)
        elif isinstance(sel, FragmentSpreadNode):
            frag = fragments.get(sel.name.value)
            if frag is not None:
                total += _selection_cost(frag.selection_set, fragments, variables, depth + 1)
    return total


def query_cost(document: DocumentNode, operation_name: str | None, variables: dict[str, Any]) -> int:
    """Cost of the operation that will run (the named one, or the only one)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [op for op in operations if op.name is not None and op.name.value == operation_name]
    if len(operations) != 1:
        return 0  # execution will report the problem
    return _selection_cost(operations[0].selection_set, fragments, variables, 0)
