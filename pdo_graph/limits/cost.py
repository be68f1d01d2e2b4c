"""Steps 5 and 7: the operation that will run, and its cost (``first`` multipliers down the selection,
list fields by their documented bound)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.type.definition import GraphQLInterfaceType, GraphQLObjectType

from pdo_graph.limits.outcomes import Refused

DEFAULT_LIST_WEIGHT = 100
"""Multiplier of a list field missing from ``LIST_WEIGHTS`` (a test keeps every list of the schema listed)."""
LIST_WEIGHTS: dict[tuple[str, str], int] = {
    # Lists whose length grows with data, by their documented bound (or the size assumed for the cost).
    ("Query", "municipalities"): 100,  # municipalities of a region
    ("Query", "nodes"): 100,  # at most 100 ids (resolvers.node.MAX_NODES)
    ("Query", "analyticsSummary"): 1000,  # rows: directions × municipalities × months, small cells suppressed
    ("AnalyticsTable", "columns"): 13,  # up to three dimensions and the ten measures (scalars)
    ("AnalyticsTable", "rows"): 5000,  # the finest level's cells (PDO_ANALYTICS_MAX_ROWS) and margins (scalars)
    ("Query", "municipalitySettlements"): 500,  # providers paid by a municipality in a month
    ("Viewer", "children"): 10,
    ("Viewer", "certificateApplications"): 10,
    ("Quote", "monthly"): 36,  # a group runs at most 36 months
    ("Enrollment", "monthly"): 36,
    ("Enrollment", "charges"): 36,  # at most one charge a month
    ("ProgramConnection", "facets"): 6,  # directions
    ("ProgramConnection", "kindFacets"): 3,  # funding kinds
    ("CatalogSource", "activityDirections"): 6,
    ("CatalogSyncRun", "failures"): 200,  # the first 200 are kept
    ("CatalogSyncRun", "events"): 100,  # the first 100 are kept
    ("CatalogUpsertPayload", "results"): 500,  # items per call
    ("AuditEntry", "fields"): 5,  # the audited fields of a child
    ("Certificate", "waitlist"): 20,  # live waitlist places of a certificate
    ("Plan", "items"): 20,  # groups of a plan (domain.enrollment.plan.MAX_GROUPS)
    ("PlanItem", "monthly"): 36,
    ("EnrollmentCreateManyPayload", "enrollments"): 20,
    ("Certificate", "balances"): 20,  # a period a year: years of a childhood
    ("Query", "settlementStatements"): 50,  # the cost assumes a page of a month's statements
    ("SettlementStatement", "lines"): 100,  # the cost assumes a statement of a hundred contracts
    ("ContractsProlongPayload", "prolonged"): 500,
}
SMALL_LISTS = frozenset({"userErrors", "field"})
"""Lists of a refusal (user errors and their paths): a handful of items, multiplier 1."""


def select_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | Refused:
    """The operation that will run, or why there is none."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        return Refused("NO_OPERATION", "no_operation")
    if operation_name is None:
        if len(operations) > 1:
            return Refused("OPERATION_NAME_REQUIRED", "operation_name_required")
        return operations[0]
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    return Refused("OPERATION_NOT_FOUND", "operation_not_found")


def _first(field: FieldNode, variables: Mapping[str, Any]) -> int | None:
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
    return None


def _is_list(type_: Any) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def first_variables(document: DocumentNode) -> frozenset[str]:
    """The variables given as a field's ``first`` anywhere in ``document``: the only variables an
    operation's cost depends on (see :func:`first_counts`)."""
    names: set[str] = set()
    stack: list[SelectionSetNode] = [
        d.selection_set for d in document.definitions if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while stack:
        for sel in stack.pop().selections:
            if isinstance(sel, FieldNode):
                for arg in sel.arguments or ():
                    if arg.name.value == "first" and isinstance(arg.value, VariableNode):
                        names.add(arg.value.name.value)
            if isinstance(sel, FieldNode | InlineFragmentNode) and sel.selection_set is not None:
                stack.append(sel.selection_set)
    return frozenset(names)


def first_counts(variables: Mapping[str, Any], names: frozenset[str]) -> tuple[tuple[str, int | None], ...]:
    """What the cost takes from ``variables`` (the ``first`` variables ``names``, as :func:`_first`
    reads them): two requests of one operation with the same counts cost the same."""
    counts: list[tuple[str, int | None]] = []
    for name in sorted(names):
        raw = variables.get(name)
        counts.append((name, max(1, raw) if isinstance(raw, int) and not isinstance(raw, bool) else None))
    return tuple(counts)


def list_weight(parent: str, field_name: str) -> int:
    if parent.startswith("__"):
        return 1  # introspection: bounded by the schema, not by data
    if field_name == "edges" and parent.endswith("Connection"):
        return 1  # the connection's `first` multiplies its edges
    if field_name in SMALL_LISTS:
        return 1
    return LIST_WEIGHTS.get((parent, field_name), DEFAULT_LIST_WEIGHT)


class _Cost:
    def __init__(
        self,
        schema: GraphQLSchema | None,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.memo: dict[str, int] = {}

    def type_named(self, name: str | None, default: GraphQLNamedType | None) -> GraphQLNamedType | None:
        if self.schema is None or name is None:
            return default
        return self.schema.get_type(name) or default

    def selection_set(self, node: SelectionSetNode | None, parent: GraphQLNamedType | None) -> int:
        if node is None:
            return 0
        total = 0
        for sel in node.selections:
            if isinstance(sel, FieldNode):
                child_type: GraphQLNamedType | None = None
                multiplier = 1
                if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
                    definition = parent.fields.get(sel.name.value)
                    if definition is not None:
                        child_type = get_named_type(definition.type)
                        if _is_list(definition.type):
                            multiplier = list_weight(parent.name, sel.name.value)
                first = _first(sel, self.variables)
                if first is not None:
                    multiplier = first
                total += 1 + multiplier * self.selection_set(sel.selection_set, child_type)
            elif isinstance(sel, InlineFragmentNode):
                condition = sel.type_condition.name.value if sel.type_condition else None
                total += self.selection_set(sel.selection_set, self.type_named(condition, parent))
            elif isinstance(sel, FragmentSpreadNode):
                total += self.fragment(sel.name.value)
        return total

    def fragment(self, name: str) -> int:
        cost = self.memo.get(name)
        if cost is None:
            fragment = self.fragments.get(name)
            if fragment is None:  # validation refuses unknown fragments before any cost is computed
                return 0
            self.memo[name] = -1  # a cycle (refused by validation before) costs nothing instead of looping
            cost = self.selection_set(fragment.selection_set, self.type_named(fragment.type_condition.name.value, None))
            self.memo[name] = cost
        return max(cost, 0)


def query_cost(
    document: DocumentNode,
    operation: OperationDefinitionNode | str | None,
    variables: Mapping[str, Any],
    schema: GraphQLSchema | None = None,
) -> int:
    """Cost of one operation (given, named, or the only one), each fragment costed once.

    Without ``schema`` list fields are not recognised (multiplier 1 unless ``first``)."""
    if not isinstance(operation, OperationDefinitionNode):
        selected = select_operation(document, operation)
        if isinstance(selected, Refused):
            return 0
        operation = selected
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    cost = _Cost(schema, fragments, variables)
    root = schema.get_root_type(operation.operation) if schema is not None else None
    return cost.selection_set(operation.selection_set, root)
