"""Step 4: the document's shape: unknown fragments and cycles, depth, aliases, and the fields
GraphQL's overlapping-fields validation would compare, bounded before it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from pdo_graph.limits.outcomes import Invalid, Refused, render

MAX_SAME_FIELD = 20
"""Fields of one response name merged at one place (one selection set with its fragments, and below
the repeats of a field the union of their children) at most this many times."""
MAX_OVERLAP_PAIRS = 2_000
"""Field comparisons GraphQL's overlapping-fields validation may be led to make (see ``Shape``)."""
SHAPE_BUDGET = 20_000
"""Selections the shape step may visit (fragments expanded where they are spread)."""


class ShapeRefused(Exception):
    def __init__(self, outcome: Refused | Invalid) -> None:
        super().__init__()
        self.outcome = outcome


@dataclass
class Summary:
    depth: int
    aliases: int


class Shape:
    """One pass over the document: fragments checked and summarized once each, then the merged walk.

    The merged walk groups, level by level, the fields that GraphQL's overlapping-fields validation
    compares with each other: fields of one response name in one selection set, fragments and inline
    fragments included, and below them the union of their children. A group of k fields costs that
    validation k(k-1)/2 comparisons, and the groups below it are as large as the product of the
    repeats above (20 ``programs`` each selecting ``provider`` 20 times make one group of 400); the
    walk refuses a group larger than ``MAX_SAME_FIELD`` and a document whose groups add up to more
    than ``MAX_OVERLAP_PAIRS`` comparisons, and never spends more than ``SHAPE_BUDGET`` steps.
    """

    def __init__(self, document: DocumentNode, max_depth: int, max_aliases: int) -> None:
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.max_depth = max_depth
        self.max_aliases = max_aliases
        self.memo: dict[str, Summary] = {}
        self.visiting: set[str] = set()
        self.work = 0
        self.pairs = 0

    def check(self, document: DocumentNode) -> None:
        for definition in document.definitions:  # fragments first: unknown ones and cycles end here
            if isinstance(definition, FragmentDefinitionNode):
                self.fragment(definition.name.value)
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                summary = self.summary(definition.selection_set)
                if summary.depth > self.max_depth:
                    raise ShapeRefused(Refused("QUERY_TOO_DEEP", "depth", {"max": self.max_depth}))
                if summary.aliases > self.max_aliases:
                    raise ShapeRefused(
                        Refused(
                            "QUERY_TOO_MANY_ALIASES",
                            "aliases",
                            {"count": summary.aliases, "max": self.max_aliases},
                        )
                    )
            if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
                self.merged([definition.selection_set])

    def fragment(self, name: str) -> Summary:
        hit = self.memo.get(name)
        if hit is not None:
            return hit
        definition = self.fragments.get(name)
        if definition is None:
            raise ShapeRefused(Invalid([GraphQLError(render("unknown_fragment", "en", {"name": name}))]))
        if name in self.visiting:
            raise ShapeRefused(Invalid([GraphQLError(render("fragment_cycle", "en", {"name": name}))]))
        self.visiting.add(name)
        summary = self.memo[name] = self.summary(definition.selection_set)
        self.visiting.discard(name)
        return summary

    def summary(self, node: SelectionSetNode) -> Summary:
        """Depth and aliases (counted as often as they are spread); each fragment once."""
        depth = aliases = 0
        for sel in node.selections:
            if isinstance(sel, FieldNode):
                aliases += sel.alias is not None
                if sel.selection_set is not None:
                    child = self.summary(sel.selection_set)
                    aliases += child.aliases
                    if not sel.name.value.startswith("__"):  # introspection does not count towards depth
                        depth = max(depth, 1 + child.depth)
            else:
                child = (
                    self.summary(sel.selection_set)
                    if isinstance(sel, InlineFragmentNode)
                    else self.fragment(cast(FragmentSpreadNode, sel).name.value)
                )
                depth, aliases = max(depth, child.depth), aliases + child.aliases
        return Summary(depth, aliases)

    def merged(self, sets: list[SelectionSetNode]) -> None:
        """Group the fields of ``sets`` by response name (fragments expanded), then each group's children."""
        groups: dict[str, list[FieldNode]] = {}
        pending = list(sets)
        while pending:
            for sel in pending.pop().selections:
                self.work += 1
                if self.work > SHAPE_BUDGET:
                    raise ShapeRefused(Refused("QUERY_TOO_COMPLEX", "too_complex"))
                if isinstance(sel, FieldNode):
                    groups.setdefault((sel.alias or sel.name).value, []).append(sel)
                elif isinstance(sel, InlineFragmentNode):
                    pending.append(sel.selection_set)
                elif isinstance(sel, FragmentSpreadNode):
                    pending.append(self.fragments[sel.name.value].selection_set)  # known: checked first
        for name, fields in groups.items():
            count = len(fields)
            if count > MAX_SAME_FIELD:
                raise ShapeRefused(
                    Refused("QUERY_TOO_COMPLEX", "same_field", {"name": name, "count": count, "max": MAX_SAME_FIELD})
                )
            self.pairs += count * (count - 1) // 2
            if self.pairs > MAX_OVERLAP_PAIRS:
                raise ShapeRefused(Refused("QUERY_TOO_COMPLEX", "too_complex"))
            children = [f.selection_set for f in fields if f.selection_set is not None]
            if children:
                self.merged(children)
