"""The gate: every step in order, with the parsed and validated documents cached by their text."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse

from pdo_graph.limits.cost import first_counts, first_variables, query_cost, select_operation
from pdo_graph.limits.outcomes import Invalid, Prepared, Refused
from pdo_graph.limits.scan import MAX_NESTING, scan
from pdo_graph.limits.shape import Shape, ShapeRefused

CACHE_SIZE = 512

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
        # the cost of an operation is the text's and its `first` variables' (cost.first_counts) alone
        self._first_variables: _Lru[str, frozenset[str]] = _Lru(CACHE_SIZE)
        self._costs: _Lru[tuple[str, str | None, tuple[tuple[str, int | None], ...]], int] = _Lru(CACHE_SIZE)

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
            Shape(document, self.limits.max_depth, self.limits.max_aliases).check(document)
        except ShapeRefused as refused:
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
        counts = first_counts(variables, self._first_variables.get(query, lambda _: first_variables(document)))
        cost = self._costs.get(
            (query, operation_name, counts), lambda _: query_cost(document, operation, variables, self.schema)
        )
        if cost > self.limits.max_cost:
            max_cost = self.limits.max_cost
            return Refused(
                "QUERY_TOO_COSTLY", "cost", {"cost": cost, "max": max_cost}, {"cost": cost, "maxCost": max_cost}
            )
        return Prepared(document, operation, cost)
