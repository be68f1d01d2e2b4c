"""The composition root: the Schema, its extensions, and the Query/Mutation/Subscription roots merged
from each area's resolvers (in this order: the order of the root fields in ``schema.graphql``).

Where things go (one answer each; ``pdo_graph/README.md`` says it at length):
- a field of an object type: ``schema/<area>.py``; its rows come from ``ctx.loaders[KEY]``;
- a loader: ``reads/<area>.py`` (row type, SQL, ``KEY = one_by_key(...)``);
- a root query or mutation: ``resolvers/<area>.py``, its input and payload in ``schema/<area>.py``,
  the rule it applies in ``domain/``; a new root type is listed here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import strawberry
from graphql import ASTValidationRule, GraphQLError, specified_rules, validate
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from pdo_graph.config import Settings
from pdo_graph.limits import Gate, Invalid, Limits, Refused, render
from pdo_graph.resolvers.analytics import AnalyticsQuery
from pdo_graph.resolvers.audit import AuditQuery
from pdo_graph.resolvers.catalog import CatalogMutation
from pdo_graph.resolvers.enrollment import EnrollmentMutation, EnrollmentQuery
from pdo_graph.resolvers.family import FamilyMutation, FamilyQuery
from pdo_graph.resolvers.live import LiveSubscription
from pdo_graph.resolvers.navigator import NavigatorQuery
from pdo_graph.resolvers.node import NODE_TYPES, NodeQuery
from pdo_graph.resolvers.notifications import NotificationsMutation
from pdo_graph.resolvers.periods import PeriodsMutation, PeriodsQuery
from pdo_graph.resolvers.push import PushMutation
from pdo_graph.resolvers.reviews import ReviewsMutation, ReviewsQuery
from pdo_graph.resolvers.settlement import SettlementMutation, SettlementQuery
from pdo_graph.resolvers.sources import SourcesMutation, SourcesQuery
from pdo_graph.resolvers.sync import SyncMutation
from pdo_graph.resolvers.waitlist import WaitlistMutation, WaitlistQuery
from pdo_graph.schema import hygiene
from pdo_graph.schema.base import SCALARS
from pdo_graph.schema.completed import CompletingExecutionContext
from pdo_graph.schema.context import Context

QUERY_TYPES: list[type] = [
    NodeQuery,
    FamilyQuery,
    PeriodsQuery,
    AnalyticsQuery,
    AuditQuery,
    NavigatorQuery,
    EnrollmentQuery,
    WaitlistQuery,
    ReviewsQuery,
    SourcesQuery,
    SettlementQuery,
]
MUTATION_TYPES: list[type] = [
    FamilyMutation,
    PeriodsMutation,
    CatalogMutation,
    EnrollmentMutation,
    WaitlistMutation,
    ReviewsMutation,
    SourcesMutation,
    SyncMutation,
    PushMutation,
    SettlementMutation,
    NotificationsMutation,
]
SUBSCRIPTION_TYPES: list[type] = [LiveSubscription]

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"
MAX_VALIDATION_ERRORS = 10  # validation stops there: a flood of errors costs no more than ten


class PreparedDocument(SchemaExtension):
    """Parsing and validation come from the gate's caches (the app has run the gate already)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query or ""
        document = self.gate.document(query)
        if isinstance(document, Invalid):
            raise document.errors[0]
        if isinstance(document, Refused):
            raise GraphQLError(render(document.key, "en", document.params), extensions={"code": document.code})
        self.execution_context.graphql_document = document
        yield

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        assert document is not None
        self.execution_context.pre_execution_errors = self.gate.validation_errors(
            self.execution_context.query or "", document
        )
        yield


class PersonalDataAudit(SchemaExtension):
    """Writes the request's personal-data reads (one INSERT) after execution, before the response.

    If the audit cannot be written, nothing that was read leaves: the result becomes a masked error.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        ctx = self.execution_context.context
        if not isinstance(ctx, Context):
            return
        try:
            await ctx.flush_audit()
        except Exception as exc:
            result = self.execution_context.result
            if result is not None:
                with contextlib.suppress(AttributeError):
                    result.data = None
                    result.errors = [GraphQLError("audit log unavailable", original_error=exc)]


class Schema(strawberry.Schema):
    """The Strawberry schema with its gate (the checks before execution, :mod:`pdo_graph.limits`).

    Errors are not logged here: Strawberry logs every error with its message, and a client's error
    message repeats what it sent (``Variable '$input' got invalid value ...``: names, СНИЛС). Client
    errors are the client's business; unexpected faults are logged by the app, masked and with the
    request id.
    """

    gate: Gate

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        return None


def build_schema(settings: Settings | None = None) -> Schema:
    settings = settings or Settings()
    Query = merge_types("Query", tuple(QUERY_TYPES))
    Mutation = merge_types("Mutation", tuple(MUTATION_TYPES))
    Subscription = merge_types("Subscription", tuple(SUBSCRIPTION_TYPES))
    Query.__strawberry_definition__.description = "Reads: the public navigator and each role's own data."  # type: ignore[attr-defined]
    Mutation.__strawberry_definition__.description = "Changes; business refusals come back as userErrors."  # type: ignore[attr-defined]
    Subscription.__strawberry_definition__.description = (  # type: ignore[attr-defined]
        "Live updates over WebSocket (graphql-transport-ws at /graphql), from every server process."
    )
    gates: list[Gate] = []
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=NODE_TYPES,
        extensions=[lambda: PreparedDocument(gates[0]), PersonalDataAudit],
        execution_context_class=CompletingExecutionContext,
        config=strawberry.schema.config.StrawberryConfig(auto_camel_case=True, scalar_map=SCALARS),
    )
    # graphql-core's rules and Strawberry's own two, as Strawberry validates
    rules: tuple[type[ASTValidationRule], ...] = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)
    if not settings.introspection:
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    limits = Limits(
        max_query_chars=settings.max_query_chars,
        max_tokens=settings.max_tokens,
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_cost=settings.max_cost,
    )
    hygiene.install(schema._schema)
    schema.gate = Gate(
        schema._schema, limits, lambda s, document: validate(s, document, rules, max_errors=MAX_VALIDATION_ERRORS)
    )
    gates.append(schema.gate)
    return schema


def export_sdl() -> str:
    return build_schema().as_str() + "\n"


__all__ = ["SCHEMA_FILE", "GraphQLError", "build_schema", "export_sdl"]
