"""Catalog sources and their sync runs as operators and providers see them.

A source and its runs are visible to the operator of the provider's municipality and to the
provider itself (its staff or its machine client); to anyone else they do not exist (``node``
answers null). Secrets are never readable: ``hasSecret`` tells whether one is stored.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from pdo_graph.domain.access import can_read_provider_books
from pdo_graph.ids import encode_id
from pdo_graph.integrations.runner import render_failure, render_message
from pdo_graph.reads.integrations import LAST_RUN, RUN, RUN_COUNT, RUNS_OF_SOURCE, SOURCE, RunRow, SourceRow
from pdo_graph.schema.base import Connection, Node, build_connection
from pdo_graph.schema.catalog import Direction, Provider, load_provider
from pdo_graph.schema.context import Context
from pdo_graph.schema.paging import page_args


@strawberry.enum(description="Format of a provider's catalog feed.")
class CatalogFormat(Enum):
    PDO_CATALOG_V1 = "PDO_CATALOG_V1"
    OPENACTIVE_RPDE = "OPENACTIVE_RPDE"


@strawberry.enum(description="How the sync authenticates to the provider's OpenID issuer (client credentials).")
class ClientAuthMethod(Enum):
    CLIENT_SECRET_BASIC = "CLIENT_SECRET_BASIC"
    PRIVATE_KEY_JWT = "PRIVATE_KEY_JWT"


@strawberry.enum(
    description=(
        "RUNNING; SUCCEEDED: the feed read to its end, nothing refused; PARTIAL: some items refused, or the time"
        " budget ran out (the next run continues); FAILED: the feed could not be read on (pages before stay saved)."
    )
)
class CatalogSyncStatus(Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


@strawberry.enum(description="What started a sync run.")
class CatalogSyncTrigger(Enum):
    MANUAL = "MANUAL"
    SCHEDULE = "SCHEDULE"
    CLI = "CLI"


@strawberry.type(description="A feed item the sync refused, and why.")
class CatalogItemFailure:
    external_id: str = strawberry.field(description="The item's id in the feed (#n: the n-th item of a page).")
    kind: str = strawberry.field(description="The item's kind in the feed (program, CourseInstance...).")
    reason: str = strawberry.field(description="Why it was refused, with field paths; Russian by default.")


@strawberry.type(description="Something that happened during a run besides items: a retry, a wait, a new token.")
class CatalogSyncEvent:
    at: datetime | None = strawberry.field(description="When.")
    code: str = strawberry.field(description="Machine-readable kind of event.")
    message: str = strawberry.field(description="Human-readable, Russian by default.")


@strawberry.type(description="One sync run of a catalog source.")
class CatalogSyncRun(Node):
    status: CatalogSyncStatus = strawberry.field(description="Status.")
    started_at: datetime = strawberry.field(description="Start.")
    finished_at: datetime | None = strawberry.field(description="End; null while running.")
    trigger: CatalogSyncTrigger = strawberry.field(description="What started it.")
    full_harvest: bool = strawberry.field(description="Whether it read the feed from its start.")
    pages: int = strawberry.field(description="Feed pages read and saved.")
    created: int = strawberry.field(description="Items that created a program.")
    updated: int = strawberry.field(description="Items that changed a program or its groups.")
    archived: int = strawberry.field(
        description="Deleted items that archived a program, and programs gone from a re-harvest."
    )
    failed: int = strawberry.field(description="Items refused (see failures).")
    unchanged: int = strawberry.field(description="Items that changed nothing.")
    skipped: int = strawberry.field(description="Items older than what was already applied for the same id.")
    failures: list[CatalogItemFailure] = strawberry.field(description="Refused items with reasons (first 200).")
    message: str | None = strawberry.field(description="How the run ended, when there is something to say.")
    events: list[CatalogSyncEvent] = strawberry.field(description="Retries, waits, token re-fetches (first 100).")
    pk: strawberry.Private[int]
    source_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, r: RunRow, lang: str) -> CatalogSyncRun:
        return cls(
            id=strawberry.ID(encode_id("CatalogSyncRun", r.id)),
            status=CatalogSyncStatus(r.status),
            started_at=r.started_at,
            finished_at=r.finished_at,
            trigger=CatalogSyncTrigger(r.trigger)
            if r.trigger in CatalogSyncTrigger.__members__
            else CatalogSyncTrigger.MANUAL,
            full_harvest=r.full_harvest,
            pages=r.pages,
            created=r.created,
            updated=r.updated,
            archived=r.archived,
            failed=r.failed,
            unchanged=r.unchanged,
            skipped=r.skipped,
            failures=[
                CatalogItemFailure(
                    external_id=str(f.get("externalId", "")),
                    kind=str(f.get("kind", "")),
                    reason=render_failure(f, lang),
                )
                for f in r.failures or []
            ],
            message=None if r.message_key is None else render_message(r.message_key, r.message_params, lang),
            events=[
                CatalogSyncEvent(
                    at=datetime.fromisoformat(e["at"]) if e.get("at") else None,
                    code=str(e.get("key", "")).removeprefix("sync_event_").upper(),
                    message=render_message(str(e.get("key")), e.get("params") or {}, lang),
                )
                for e in r.events or []
            ],
            pk=r.id,
            source_id=r.source_id,
        )

    @strawberry.field(description="The source.")
    async def source(self, info: Info[Context, None]) -> CatalogSource | None:
        return await load_source(info.context, self.source_id)


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

    @strawberry.field(description="The provider whose catalog the feed carries.")
    async def provider(self, info: Info[Context, None]) -> Provider:
        provider = await load_provider(info.context, self.provider_id)
        assert provider is not None
        return provider

    @strawberry.field(description="The latest run, if any.")
    async def last_run(self, info: Info[Context, None]) -> CatalogSyncRun | None:
        row = await info.context.loaders[LAST_RUN].load(self.pk)
        return None if row is None else CatalogSyncRun.from_row(row, info.context.lang)

    @strawberry.field(description="Runs, newest first.")
    async def runs(self, info: Info[Context, None], first: int, after: str | None = None) -> Connection[CatalogSyncRun]:
        ctx = info.context
        first, key = page_args(first, after, ctx.lang, (int,))
        after_id = key[0] if key else None
        rows = await ctx.loaders[RUNS_OF_SOURCE].load((self.pk, first, after_id))
        total = await ctx.loaders[RUN_COUNT].load(self.pk)
        return build_connection(
            rows, first, total, lambda r: [r.id], lambda r: CatalogSyncRun.from_row(r, ctx.lang), after
        )


def visible(ctx: Context, row: SourceRow) -> bool:
    return can_read_provider_books(ctx.actor, row.provider_id, row.provider_municipality)


async def source_row(ctx: Context, pk: int) -> SourceRow | None:
    """The source row if the caller may see it."""
    row = await ctx.loaders[SOURCE].load(pk)
    return row if row is not None and visible(ctx, row) else None


async def load_source(ctx: Context, pk: int) -> CatalogSource | None:
    row = await source_row(ctx, pk)
    return None if row is None else CatalogSource.from_row(row)


async def load_run(ctx: Context, pk: int) -> CatalogSyncRun | None:
    run = await ctx.loaders[RUN].load(pk)
    if run is None or await source_row(ctx, run.source_id) is None:
        return None
    return CatalogSyncRun.from_row(run, ctx.lang)


def prime_sources(ctx: Context, rows: list[SourceRow]) -> None:
    loader = ctx.loaders[SOURCE]
    for row in rows:
        loader.prime(row.id, row)


NODE_LOADERS = {"CatalogSource": load_source, "CatalogSyncRun": load_run}
