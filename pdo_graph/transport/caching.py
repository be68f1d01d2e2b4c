"""HTTP caching of the public navigator.

An anonymous GET query whose every root field is public (``programs``, ``municipalities``, and
``node``/``nodes`` of public types: programs, groups, providers, reviews, funding periods) and that
answered without errors is cacheable: ``Cache-Control: public, max-age=N`` (``PDO_CACHE_MAX_AGE``),
a weak ``ETag`` of the response, and ``Vary`` on what changes the answer (``Authorization``,
``Accept``, ``Accept-Language``, ``Accept-Encoding``); ``If-None-Match`` with that tag is answered
304 without a body. Everything else of ``/graphql`` (authenticated, POST, mutations, errors) is
``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)

from pdo_graph.ids import decode_id

PUBLIC_ROOT_FIELDS = frozenset({"programs", "municipalities", "__typename"})
NODE_FIELDS = {"node": "id", "nodes": "ids"}  # root fields whose answer depends on the ids' types
VARY = "Authorization, Accept, Accept-Language, Accept-Encoding"
NO_STORE = {"cache-control": "no-store"}


def _literal(value: ValueNode, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, VariableNode):
        return variables.get(value.name.value)
    if isinstance(value, StringValueNode):
        return value.value
    if isinstance(value, ListValueNode):
        return [_literal(v, variables) for v in value.values]
    return None


def _ids_public(field: FieldNode, variables: Mapping[str, Any], public_types: frozenset[str]) -> bool:
    argument = NODE_FIELDS[field.name.value]
    for arg in field.arguments or ():
        if arg.name.value != argument:
            continue
        value = _literal(arg.value, variables)
        ids = value if isinstance(value, list) else [value]
        decoded = [decode_id(i) if isinstance(i, str) else None for i in ids]
        return all(d is not None and d[0] in public_types for d in decoded)
    return False


def _selection_public(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    public_types: frozenset[str],
    seen: set[str],
) -> bool:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name in NODE_FIELDS:
                if not _ids_public(selection, variables, public_types):
                    return False
            elif name not in PUBLIC_ROOT_FIELDS:
                return False
        elif isinstance(selection, InlineFragmentNode):
            if not _selection_public(selection.selection_set, fragments, variables, public_types, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                return False
            seen.add(name)
            if not _selection_public(fragment.selection_set, fragments, variables, public_types, seen):
                return False
    return True


def public_query(
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    public_types: frozenset[str],
) -> bool:
    """Whether the operation reads only the public navigator (whoever asks, the answer is the same)."""
    if operation.operation is not OperationType.QUERY:
        return False
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return _selection_public(operation.selection_set, fragments, variables, public_types, set())


def etag(data: bytes) -> str:
    """A weak validator of the response's data (the same for every content coding and request id)."""
    return 'W/"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag`` (weak comparison, as RFC 9110 wants for it)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = tag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == bare for candidate in if_none_match.split(","))


def public_headers(tag: str, max_age: int) -> dict[str, str]:
    return {"cache-control": f"public, max-age={max_age}", "etag": tag, "vary": VARY}
