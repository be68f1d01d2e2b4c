"""Catalog sources as operators and providers see them, and the inputs and payloads of their upkeep.

A source (and its runs) is visible to the operator of the provider's municipality and to the
provider itself (its staff or its machine client); to anyone else it does not exist (``node``
answers null). Secrets are never readable: ``hasSecret`` tells whether one is stored.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from pdo_graph.domain.access import can_read_provider_books
from pdo_graph.ids import encode_id
from pdo_graph.integrations.source_rules import SourceSpec
from pdo_graph.reads.sources import SOURCE, SourceRow
from pdo_graph.reads.sync import LAST_RUN, RUN_COUNT, RUNS_OF_SOURCE
from pdo_graph.schema.base import After, Connection, First, Node, UserError, build_connection, describe_values
from pdo_graph.schema.catalog import Direction, Provider
from pdo_graph.schema.context import Context
from pdo_graph.schema.paging import page_args

if TYPE_CHECKING:
    from pdo_graph.schema.sync import CatalogSyncRun

SYNC = strawberry.lazy("pdo_graph.schema.sync")


@strawberry.enum(description="Format of a provider's catalog feed.")
class CatalogFormat(Enum):
    PDO_CATALOG_V1 = "PDO_CATALOG_V1"
    OPENACTIVE_RPDE = "OPENACTIVE_RPDE"


@strawberry.enum(description="How the sync authenticates to the provider's OpenID issuer (client credentials).")
class ClientAuthMethod(Enum):
    CLIENT_SECRET_BASIC = "CLIENT_SECRET_BASIC"
    PRIVATE_KEY_JWT = "PRIVATE_KEY_JWT"


describe_values(
    CatalogFormat,
    {
        "PDO_CATALOG_V1": "Our own JSON feed (docs/pdo-catalog-v1.schema.json), in RPDE pages.",
        "OPENACTIVE_RPDE": "OpenActive's CourseInstance items in RPDE pages.",
    },
)
describe_values(
    ClientAuthMethod,
    {
        "CLIENT_SECRET_BASIC": "The client id and secret in HTTP Basic authentication.",
        "PRIVATE_KEY_JWT": "A JWT signed with the client's private key (RFC 7523).",
    },
)


@strawberry.type(description="An activity label (OpenActive prefLabel or URI) and the direction it maps to.")
class ActivityDirection:
    activity: str = strawberry.field(description="Activity label or URI, as the feed gives it.")
    direction: Direction = strawberry.field(description="The direction.")


@strawberry.type(description="A provider's catalog feed that the platform pulls over OIDC client credentials.")
class CatalogSource(Node):
    feed_url: str = strawberry.field(description="The feed's first page (RPDE).")
    format: CatalogFormat = strawberry.field(description="Feed format.")
    issuer: str = strawberry.field(description="The provider's OpenID issuer.")
    client_id: str = strawberry.field(description="Our client id at that issuer.")
    client_auth: ClientAuthMethod = strawberry.field(description="Client authentication method.")
    has_secret: bool = strawberry.field(description="Whether a secret is stored (secrets are never readable).")
    audience: str | None = strawberry.field(description="Resource indicator (RFC 8707) asked for with every token.")
    scope: str | None = strawberry.field(description="Scope asked for.")
    interval_minutes: int = strawberry.field(description="How often it is synced in the background.")
    default_direction: Direction | None = strawberry.field(
        description="Direction of OpenActive items no activity mapping matches (else PHYSICAL_SPORTS)."
    )
    activity_directions: list[ActivityDirection] = strawberry.field(description="Activity -> direction mapping.")
    paused: bool = strawberry.field(description="Paused sources are not synced in the background.")
    position: str | None = strawberry.field(description="The feed URL the next run starts from (the stored cursor).")
    next_run_at: datetime | None = strawberry.field(description="When the background sync runs it next.")
    caught_up_at: datetime | None = strawberry.field(description="When a run last reached the end of the feed.")
    created_at: datetime = strawberry.field(description="When it was registered.")
    pk: strawberry.Private[int]
    provider_id: strawberry.Private[int]

    rows = SOURCE

    @classmethod
    def from_row(cls, r: SourceRow) -> CatalogSource:
        return cls(
            id=strawberry.ID(encode_id("CatalogSource", r.id)),
            feed_url=r.feed_url,
            format=CatalogFormat(r.format),
            issuer=r.issuer,
            client_id=r.client_id,
            client_auth=ClientAuthMethod(r.client_auth),
            has_secret=r.has_secret,
            audience=r.audience,
            scope=r.scope,
            interval_minutes=r.interval_minutes,
            default_direction=None if r.default_direction is None else Direction(r.default_direction),
            activity_directions=[
                ActivityDirection(activity=m["activity"], direction=Direction(m["direction"]))
                for m in r.activity_directions or []
            ],
            paused=r.paused,
            position=r.cursor,
            next_run_at=r.next_run_at,
            caught_up_at=r.caught_up_at,
            created_at=r.created_at,
            pk=r.id,
            provider_id=r.provider_id,
        )

    @classmethod
    def visible(cls, ctx: Context, row: SourceRow) -> bool:
        """The operator of the provider's municipality, and the provider itself."""
        return can_read_provider_books(ctx.actor, row.provider_id, row.provider_municipality)

    @strawberry.field(description="The provider whose catalog the feed carries.")
    async def provider(self, info: Info[Context, None]) -> Provider:
        provider = await Provider.load(info.context, self.provider_id)
        assert provider is not None
        return provider

    @strawberry.field(description="The latest run, if any.")
    async def last_run(self, info: Info[Context, None]) -> Annotated[CatalogSyncRun, SYNC] | None:
        from pdo_graph.schema.sync import CatalogSyncRun

        row = await info.context.loaders[LAST_RUN].load(self.pk)
        return None if row is None else CatalogSyncRun.from_run(row, info.context.lang)

    @strawberry.field(description="Runs, newest first.")
    async def runs(
        self, info: Info[Context, None], first: First, after: After = None
    ) -> Connection[Annotated[CatalogSyncRun, SYNC]]:
        from pdo_graph.schema.sync import CatalogSyncRun

        ctx = info.context
        first, key = page_args(first, after, ctx.lang, (int,))
        after_id = key[0] if key else None
        rows = await ctx.loaders[RUNS_OF_SOURCE].load((self.pk, first, after_id))
        total = await ctx.loaders[RUN_COUNT].load(self.pk)
        return build_connection(
            rows, first, total, lambda r: [r.id], lambda r: CatalogSyncRun.from_run(r, ctx.lang), after
        )


def prime_sources(ctx: Context, rows: list[SourceRow]) -> None:
    loader = ctx.loaders[SOURCE]
    for row in rows:
        loader.prime(row.id, row)


# --- inputs and payloads of the sources' upkeep ----------------------------------------------------


def _mapping(items: list[ActivityDirectionInput] | None) -> list[tuple[str, str]] | None:
    return None if items is None else [(m.activity, m.direction.value) for m in items]


@strawberry.input(description="An activity label (OpenActive prefLabel or URI) and its direction.")
class ActivityDirectionInput:
    activity: str = strawberry.field(description="Activity label or URI as the feed gives it (case-insensitive).")
    direction: Direction = strawberry.field(description="The direction it maps to.")


@strawberry.input(description="Operator of the provider's municipality: register a provider's catalog feed.")
class CatalogSourceInput:
    provider_id: strawberry.ID = strawberry.field(description="The provider whose catalog the feed carries.")
    feed_url: str = strawberry.field(description="The feed's first page (https; http only on localhost).")
    format: CatalogFormat = strawberry.field(description="Feed format.")
    issuer: str = strawberry.field(description="The provider's OpenID issuer (discovery at /.well-known/...).")
    client_id: str = strawberry.field(description="Our client id at that issuer.")
    client_auth: ClientAuthMethod = strawberry.field(description="Client authentication method.")
    client_secret: str | None = strawberry.field(
        default=None, description="Write-only: the client secret (CLIENT_SECRET_BASIC)."
    )
    private_key_pem: str | None = strawberry.field(
        default=None, description="Write-only: a PEM private key without password (PRIVATE_KEY_JWT)."
    )
    key_id: str | None = strawberry.field(
        default=None, description="The key's kid as registered at the issuer (PRIVATE_KEY_JWT), if it needs one."
    )
    audience: str | None = strawberry.field(
        default=None, description="Resource indicator (RFC 8707) sent with every token request."
    )
    scope: str | None = strawberry.field(default=None, description="Scope asked for.")
    interval_minutes: int | None = strawberry.field(
        default=None, description="Background sync interval, 1..10080 minutes (default 60)."
    )
    default_direction: Direction | None = strawberry.field(
        default=None, description="OpenActive: direction when no activity mapping matches (default PHYSICAL_SPORTS)."
    )
    activity_directions: list[ActivityDirectionInput] | None = strawberry.field(
        default=None, description="OpenActive: activity -> direction mapping."
    )

    def spec(self, provider_id: int) -> SourceSpec:
        return SourceSpec(
            provider_id=provider_id,
            feed_url=self.feed_url,
            format=self.format.value,
            issuer=self.issuer,
            client_id=self.client_id,
            client_auth=self.client_auth.value,
            client_secret=self.client_secret,
            private_key_pem=self.private_key_pem,
            key_id=self.key_id,
            audience=self.audience,
            scope=self.scope,
            interval_minutes=self.interval_minutes,
            default_direction=None if self.default_direction is None else self.default_direction.value,
            activity_directions=_mapping(self.activity_directions),
        )


@strawberry.input(description="Operator: change a source. Absent fields stay; a new secret replaces the stored one.")
class CatalogSourceUpdateInput:
    source_id: strawberry.ID = strawberry.field(description="The source.")
    feed_url: str | None = strawberry.field(
        default=None, description="New feed URL (the next run reads the feed from its start)."
    )
    format: CatalogFormat | None = strawberry.field(default=None, description="New format (same effect).")
    issuer: str | None = strawberry.field(default=None, description="New issuer.")
    client_id: str | None = strawberry.field(default=None, description="New client id.")
    client_auth: ClientAuthMethod | None = strawberry.field(
        default=None, description="New method (give its secret too)."
    )
    client_secret: str | None = strawberry.field(default=None, description="Write-only: a new client secret.")
    private_key_pem: str | None = strawberry.field(default=None, description="Write-only: a new private key.")
    key_id: str | None = strawberry.field(default=strawberry.UNSET, description="Key id; null clears.")
    audience: str | None = strawberry.field(default=strawberry.UNSET, description="Resource indicator; null clears.")
    scope: str | None = strawberry.field(default=strawberry.UNSET, description="Scope; null clears.")
    interval_minutes: int | None = strawberry.field(default=None, description="New interval in minutes.")
    default_direction: Direction | None = strawberry.field(
        default=strawberry.UNSET, description="Default direction; null clears."
    )
    activity_directions: list[ActivityDirectionInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the whole mapping; null clears it."
    )

    def changes(self) -> dict[str, Any]:
        """The fields given, by the service's names (enums as their values)."""
        changes: dict[str, Any] = {}
        for name in ("feed_url", "format", "issuer", "client_id", "client_auth", "client_secret", "private_key_pem"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value.value if isinstance(value, Enum) else value
        if self.interval_minutes is not None:
            changes["interval_minutes"] = self.interval_minutes
        for name in ("key_id", "audience", "scope"):
            value = getattr(self, name)
            if value is not strawberry.UNSET:
                changes[name] = value
        if self.default_direction is not strawberry.UNSET:
            changes["default_direction"] = None if self.default_direction is None else self.default_direction.value
        if self.activity_directions is not strawberry.UNSET:
            changes["activity_directions"] = _mapping(self.activity_directions) or []
        return changes


@strawberry.input(description="Operator: pause a source (no background runs) or resume it.")
class CatalogSourcePauseInput:
    source_id: strawberry.ID = strawberry.field(description="The source.")
    paused: bool = strawberry.field(default=True, description="True pauses, false resumes.")


@strawberry.input(description="Operator: forget a source and its runs (the programs it brought stay).")
class CatalogSourceDeleteInput:
    source_id: strawberry.ID = strawberry.field(description="The source.")


@strawberry.type(description="Result of catalog source mutations.")
class CatalogSourcePayload:
    source: CatalogSource | None = strawberry.field(description="The source.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of catalogSourceDelete.")
class CatalogSourceDeletePayload:
    deleted_source_id: strawberry.ID | None = strawberry.field(description="The id of the deleted source.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


NODES: dict[str, type[Node]] = {"CatalogSource": CatalogSource}
