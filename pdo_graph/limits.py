"""Everything that runs before execution, in bounded time: the gate every GraphQL document passes.

In order, each step linear in the document (or bounded by the steps before it), nothing before
execution touches the database:

1. **size**: at most ``max_query_chars`` characters (the body limit is for variables);
2. **tokens**: one pass of a regular expression that cannot backtrack (possessive quantifiers; an
   unterminated string runs to the end of its line instead of failing and being retried from every
   quote inside it), stopping after ``max_tokens`` tokens; brackets may nest ``MAX_NESTING`` deep;
3. **parse** (cached per document text, capped at ``max_tokens`` tokens);
4. **shape**: unknown fragments and fragment cycles, the depth (``max_depth``) and aliases counted
   as often as they are spread (``max_aliases``), each fragment summarized once; then the fields
   GraphQL's overlapping-fields validation would compare (quadratic in repeats of one response
   name, multiplied down nested repeats) are counted first and bounded (``MAX_SAME_FIELD``,
   ``MAX_OVERLAP_PAIRS``), the walk itself within ``SHAPE_BUDGET`` steps;
5. **the operation that will run**: several operations and no ``operationName``, an
   ``operationName`` the document lacks, or no operation at all is refused (HTTP 400);
6. **validation** (graphql-core's rules, cached per document text);
7. **cost** of exactly that operation, each fragment costed once:
   cost(field) = 1 + multiplier × Σ cost(children), where the multiplier is the field's ``first``
   argument (connections), the documented bound of a list field (``LIST_WEIGHTS``: lists whose
   length grows with data, e.g. the monthly split of a contract), or 1 (introspection lists too).

Refusals of steps 1, 2, 4 (limits), 5 and 7 are :class:`Refused` (HTTP 400, a code); syntax and
validation errors are :class:`Invalid` (reported like any GraphQL request error).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Generic, TypeVar, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
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
    parse,
)
from graphql.type.definition import GraphQLInterfaceType, GraphQLObjectType

MAX_NESTING = 64
"""Brackets (``{ ( [``) nest at most this deep: deeper documents would exhaust the parser's stack."""
MAX_SAME_FIELD = 20
"""Fields of one response name merged at one place (one selection set with its fragments, and below
the repeats of a field the union of their children) at most this many times."""
MAX_OVERLAP_PAIRS = 2_000
"""Field comparisons GraphQL's overlapping-fields validation may be led to make (see ``_Shape``)."""
SHAPE_BUDGET = 20_000
"""Selections the shape step may visit (fragments expanded where they are spread)."""
DEFAULT_LIST_WEIGHT = 100
"""Multiplier of a list field missing from ``LIST_WEIGHTS`` (a test keeps every list of the schema listed)."""
CACHE_SIZE = 512

LIST_WEIGHTS: dict[tuple[str, str], int] = {
    # Lists whose length grows with data, by their documented bound (or the size assumed for the cost).
    ("Query", "municipalities"): 100,  # municipalities of a region
    ("Query", "analyticsSummary"): 1000,  # rows: directions × municipalities × months, small cells suppressed
    ("Query", "municipalitySettlements"): 500,  # providers paid by a municipality in a month
    ("Viewer", "children"): 10,
    ("Viewer", "certificateApplications"): 10,
    ("Quote", "monthly"): 36,  # a group runs at most 36 months
    ("Enrollment", "monthly"): 36,
    ("Enrollment", "charges"): 36,  # at most one charge a month
    ("ProgramConnection", "facets"): 6,  # directions
    ("CatalogSource", "activityDirections"): 6,
    ("CatalogSyncRun", "failures"): 200,  # the first 200 are kept
    ("CatalogSyncRun", "events"): 100,  # the first 100 are kept
    ("CatalogUpsertPayload", "results"): 500,  # items per call
    ("AuditEntry", "fields"): 5,  # the audited fields of a child
}
SMALL_LISTS = frozenset({"userErrors", "field"})
"""Lists of a refusal (user errors and their paths): a handful of items, multiplier 1."""

_TOKEN = re.compile(
    r"#[^\n\r]*+"  # comment (not counted)
    r'|"""(?:[^"\\]++|\\[\s\S]?|"(?!""))*+(?:(""")|\Z)'  # block string; unterminated: to the end
    r'|"(?:[^"\\\n\r]++|\\[^\n\r]?)*+(")?'  # string; unterminated: to the end of the line
    r"|\.\.\.|-?\d++(?:\.\d++)?+(?:[eE][+-]?\d++)?+|[_A-Za-z][_0-9A-Za-z]*+|[!$&():=@\[\]{}|]"
)
_OPEN, _CLOSE = frozenset("{(["), frozenset("})]")

_MESSAGES: dict[str, tuple[str, str]] = {
    "query_chars": ("Запрос длиннее {max} символов", "The document is longer than {max} characters"),
    "tokens": ("В запросе больше {max} лексем", "The document has more than {max} tokens"),
    "nesting": ("Скобки в запросе вложены глубже {max} уровней", "Brackets in the document nest deeper than {max}"),
    "depth": ("Глубина запроса больше допустимой {max}", "The query is deeper than the maximum {max}"),
    "aliases": (
        "В запросе {count} псевдонимов полей, допустимо не больше {max}",
        "The query has {count} field aliases, at most {max} are allowed",
    ),
    "same_field": (
        "Поле {name} выбрано в одном наборе полей {count} раз, допустимо не больше {max}",
        "Field {name} is selected {count} times in one selection set, at most {max} are allowed",
    ),
    "too_complex": ("Запрос слишком сложен", "The document is too complex"),
    "unknown_fragment": ("Неизвестный фрагмент {name}", "Unknown fragment {name}"),
    "fragment_cycle": ("Фрагмент {name} включает сам себя", "Fragment {name} spreads itself"),
    "operation_name_required": (
        "В документе несколько операций: укажите, какую выполнить, в operationName",
        "The document has several operations: name the one to run in operationName",
    ),
    "operation_not_found": (
        "В документе нет операции с именем, указанным в operationName",
        "The document has no operation with the name given in operationName",
    ),
    "no_operation": (
        "В документе нет ни одной операции (только фрагменты)",
        "The document has no operation (only fragments)",
    ),
    "cost": (
        "Стоимость запроса {cost} больше допустимой {max}: уменьшите first или вложенность",
        "Query cost {cost} exceeds the maximum {max}",
    ),
}


def render(key: str, lang: str, params: Mapping[str, object]) -> str:
    ru, en = _MESSAGES[key]
    return (en if lang == "en" else ru).format(**params)


@dataclass(frozen=True)
class Refused:
    """A document refused by a limit or for want of one operation to run: HTTP 400 with a code."""

    code: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def error(self, lang: str) -> dict[str, Any]:
        return {"message": render(self.key, lang, self.params), "extensions": {"code": self.code, **self.extra}}


@dataclass(frozen=True)
class Invalid:
    """Syntax or validation errors: reported like any GraphQL request error."""

    errors: list[GraphQLError]
    code: str = "GRAPHQL_VALIDATION_FAILED"


@dataclass(frozen=True)
class Prepared:
    """A document that may run: its operation and cost."""

    document: DocumentNode
    operation: OperationDefinitionNode
    cost: int


@dataclass(frozen=True)
class Scan:
    tokens: int  # counted up to max_tokens + 1
    nesting: int  # deepest bracket nesting seen
    unterminated: bool = False  # a string without its closing quotes (a syntax error)


def scan(query: str, max_tokens: int) -> Scan:
    """Tokens (comments excluded) and bracket nesting in one linear pass; stops after ``max_tokens``."""
    tokens = depth = deepest = seen = 0
    unterminated = False
    cap = 4 * max_tokens + 1  # comments are matched (to be skipped) too, and count towards this cap
    for match in islice(_TOKEN.finditer(query), cap):
        seen += 1
        head = query[match.start()]
        if head == "#":
            continue
        tokens += 1
        if tokens > max_tokens:
            break
        if head in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif head in _CLOSE:
            depth -= 1
        elif head == '"' and match.lastindex is None:
            unterminated = True
    else:
        if seen == cap:  # stopped by the cap: a flood of comments
            tokens = max_tokens + 1
    return Scan(tokens, deepest, unterminated)


def count_tokens(query: str, max_tokens: int = 10**9) -> int:
    """About how many lexical tokens the document has (comments excluded), counted up to ``max_tokens + 1``."""
    return scan(query, max_tokens).tokens


# --- shape: fragments, depth, aliases, repeated fields ------------------------------------------


class _ShapeRefused(Exception):
    def __init__(self, outcome: Refused | Invalid) -> None:
        super().__init__()
        self.outcome = outcome


@dataclass
class _Summary:
    depth: int
    aliases: int


class _Shape:
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
        self.memo: dict[str, _Summary] = {}
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
                    raise _ShapeRefused(Refused("QUERY_TOO_DEEP", "depth", {"max": self.max_depth}))
                if summary.aliases > self.max_aliases:
                    raise _ShapeRefused(
                        Refused(
                            "QUERY_TOO_MANY_ALIASES",
                            "aliases",
                            {"count": summary.aliases, "max": self.max_aliases},
                        )
                    )
            if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
                self.merged([definition.selection_set])

    def fragment(self, name: str) -> _Summary:
        hit = self.memo.get(name)
        if hit is not None:
            return hit
        definition = self.fragments.get(name)
        if definition is None:
            raise _ShapeRefused(Invalid([GraphQLError(render("unknown_fragment", "en", {"name": name}))]))
        if name in self.visiting:
            raise _ShapeRefused(Invalid([GraphQLError(render("fragment_cycle", "en", {"name": name}))]))
        self.visiting.add(name)
        summary = self.memo[name] = self.summary(definition.selection_set)
        self.visiting.discard(name)
        return summary

    def summary(self, node: SelectionSetNode) -> _Summary:
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
        return _Summary(depth, aliases)

    def merged(self, sets: list[SelectionSetNode]) -> None:
        """Group the fields of ``sets`` by response name (fragments expanded), then each group's children."""
        groups: dict[str, list[FieldNode]] = {}
        pending = list(sets)
        while pending:
            for sel in pending.pop().selections:
                self.work += 1
                if self.work > SHAPE_BUDGET:
                    raise _ShapeRefused(Refused("QUERY_TOO_COMPLEX", "too_complex"))
                if isinstance(sel, FieldNode):
                    groups.setdefault((sel.alias or sel.name).value, []).append(sel)
                elif isinstance(sel, InlineFragmentNode):
                    pending.append(sel.selection_set)
                elif isinstance(sel, FragmentSpreadNode):
                    pending.append(self.fragments[sel.name.value].selection_set)  # known: checked first
        for name, fields in groups.items():
            count = len(fields)
            if count > MAX_SAME_FIELD:
                raise _ShapeRefused(
                    Refused("QUERY_TOO_COMPLEX", "same_field", {"name": name, "count": count, "max": MAX_SAME_FIELD})
                )
            self.pairs += count * (count - 1) // 2
            if self.pairs > MAX_OVERLAP_PAIRS:
                raise _ShapeRefused(Refused("QUERY_TOO_COMPLEX", "too_complex"))
            children = [f.selection_set for f in fields if f.selection_set is not None]
            if children:
                self.merged(children)


# --- operation and cost -------------------------------------------------------------------------


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


# --- the gate -----------------------------------------------------------------------------------

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A small LRU map, safe to share between the event loop and worker threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()
        self.lock = threading.Lock()

    def __contains__(self, key: K) -> bool:
        return key in self.items

    def get(self, key: K, compute: Callable[[K], V]) -> V:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = compute(key)  # outside the lock: two threads may compute the same value once each
        with self.lock:
            self.items[key] = value
            if len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


@dataclass(frozen=True)
class Limits:
    max_query_chars: int
    max_tokens: int
    max_depth: int
    max_aliases: int
    max_cost: int


class Gate:
    """The checks before execution, with the parsed and validated documents cached by their text."""

    def __init__(
        self,
        schema: GraphQLSchema,
        limits: Limits,
        validate: Callable[[GraphQLSchema, DocumentNode], list[GraphQLError]],
    ) -> None:
        self.schema = schema
        self.limits = limits
        self._validate = validate
        self._documents: _Lru[str, DocumentNode | Refused | Invalid] = _Lru(CACHE_SIZE)
        self._validated: _Lru[str, list[GraphQLError]] = _Lru(CACHE_SIZE)

    def knows(self, query: str) -> bool:
        """Whether the document was seen recently (then preparing it again is a few dictionary lookups)."""
        return query in self._documents and query in self._validated

    def document(self, query: str) -> DocumentNode | Refused | Invalid:
        """Steps 1-4: size, tokens, parse, shape (cached by the text)."""
        if len(query) > self.limits.max_query_chars:
            return Refused("QUERY_TOO_LARGE", "query_chars", {"max": self.limits.max_query_chars})
        return self._documents.get(query, self._document)

    def _document(self, query: str) -> DocumentNode | Refused | Invalid:
        scanned = scan(query, self.limits.max_tokens)
        if scanned.tokens > self.limits.max_tokens:
            max_tokens = self.limits.max_tokens
            return Refused("QUERY_TOO_LARGE", "tokens", {"max": max_tokens}, {"maxTokens": max_tokens})
        if scanned.nesting > MAX_NESTING:
            return Refused("QUERY_TOO_DEEP", "nesting", {"max": MAX_NESTING})
        if scanned.unterminated:  # known without running the (slower) parser over it
            return Invalid([GraphQLError("Syntax Error: Unterminated string.")], "GRAPHQL_PARSE_FAILED")
        try:
            document = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError as exc:
            if "more than" in exc.message and "tokens" in exc.message:  # the parser's own count
                return Refused("QUERY_TOO_LARGE", "tokens", {"max": self.limits.max_tokens})
            return Invalid([exc], "GRAPHQL_PARSE_FAILED")
        except RecursionError:
            return Refused("QUERY_TOO_DEEP", "nesting", {"max": MAX_NESTING})
        try:
            _Shape(document, self.limits.max_depth, self.limits.max_aliases).check(document)
        except _ShapeRefused as refused:
            return refused.outcome
        return document

    def validation_errors(self, query: str, document: DocumentNode) -> list[GraphQLError]:
        """Step 6 (cached by the text)."""
        return self._validated.get(query, lambda _: self._validate(self.schema, document))

    def prepare(
        self, query: str, operation_name: str | None, variables: Mapping[str, Any]
    ) -> Prepared | Refused | Invalid:
        """Every step, in order: the operation to run and its cost, or why not."""
        document = self.document(query)
        if not isinstance(document, DocumentNode):
            return document
        operation = select_operation(document, operation_name)
        if isinstance(operation, Refused):
            return operation
        errors = self.validation_errors(query, document)
        if errors:
            return Invalid(errors)
        cost = query_cost(document, operation, variables, self.schema)
        if cost > self.limits.max_cost:
            max_cost = self.limits.max_cost
            return Refused(
                "QUERY_TOO_COSTLY", "cost", {"cost": cost, "max": max_cost}, {"cost": cost, "maxCost": max_cost}
            )
        return Prepared(document, operation, cost)
