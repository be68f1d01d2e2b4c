"""The Schema: root types merged from each area, and its extensions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from pdo_graph.config import Settings
from pdo_graph.resolvers import catalog as catalog_resolvers
from pdo_graph.resolvers import enrollment as enrollment_resolvers
from pdo_graph.resolvers import integrations as integration_resolvers
from pdo_graph.resolvers.analytics import AnalyticsQuery
from pdo_graph.resolvers.audit import AuditQuery
from pdo_graph.resolvers.family import FamilyMutation, FamilyQuery
from pdo_graph.resolvers.node import NodeQuery
from pdo_graph.schema import analytics, audit, catalog, enrollment, family

QUERY_TYPES: list[type] = [
    NodeQuery,
    FamilyQuery,
    AnalyticsQuery,
    AuditQuery,
    *catalog_resolvers.QUERIES,
    *enrollment_resolvers.QUERIES,
    *integration_resolvers.QUERIES,
]
MUTATION_TYPES: list[type] = [
    FamilyMutation,
    *catalog_resolvers.MUTATIONS,
    *enrollment_resolvers.MUTATIONS,
    *integration_resolvers.MUTATIONS,
]
EXTRA_TYPES: list[type] = [
    family.Child,
    family.Certificate,
    family.CertificateApplication,
    family.Transaction,
    family.FundingPeriod,
    catalog.Provider,
    catalog.Program,
    catalog.Group,
    enrollment.Enrollment,
    audit.AuditEntry,
    analytics.AnalyticsTable,
    *catalog_resolvers.TYPES,
    *enrollment_resolvers.TYPES,
    *integration_resolvers.TYPES,
]

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def _extensions(settings: Settings) -> list[Callable[[], SchemaExtension] | type[SchemaExtension]]:
    # Validation rules are built once: fresh rule classes per request would defeat the validation cache.
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=512),
        audit.PersonalDataAudit,
    ]


class Schema(strawberry.Schema):
    """The schema; errors are not logged here.

    Strawberry logs every error with its message, and a client's error message repeats what it sent
    (``Variable '$input' got invalid value ...``: names, СНИЛС). Client errors are the client's
    business; unexpected faults are logged by the app, masked and with the request id.
    """

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        return None


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    Query = merge_types("Query", tuple(QUERY_TYPES))
    Mutation = merge_types("Mutation", tuple(MUTATION_TYPES))
    Query.__strawberry_definition__.description = "Reads: the public navigator and each role's own data."  # type: ignore[attr-defined]
    Mutation.__strawberry_definition__.description = "Changes; business refusals come back as userErrors."  # type: ignore[attr-defined]
    return Schema(
        query=Query,
        mutation=Mutation,
        types=EXTRA_TYPES,
        extensions=_extensions(settings),
        config=strawberry.schema.config.StrawberryConfig(auto_camel_case=True),
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"


__all__ = ["SCHEMA_FILE", "GraphQLError", "build_schema", "export_sdl"]
