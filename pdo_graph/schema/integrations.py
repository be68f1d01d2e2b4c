"""Catalog sources and their sync runs as operators and providers see them.

A source and its runs are visible to the operator of the provider's municipality and to the
provider itself (its staff or its machine client); to anyone else they do not exist (``node``
answers null). Secrets are never readable: ``hasSecret`` tells whether one is stored.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import Row
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from pdo_graph.integrations.sources import can_read_source
from pdo_graph.integrations.sync.messages import render_failure, render_message
from pdo_graph.resolvers.loaders import fetch, one_by_key
from pdo_graph.schema.base import Connection, Node, build_connection
from pdo_graph.schema.catalog import Direction, Provider, load_provider, provider_matches
from pdo_graph.schema.context import Context
from pdo_graph.schema.ids import encode_id
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
    def from_row(cls, r: Row[Any], lang: str) -> CatalogSyncRun:
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
    def from_row(cls, r: Row[Any]) -> CatalogSource:
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
        row = await _loader(info.context, "last_run", _last_run_loader).load(self.pk)
        return None if row is None else CatalogSyncRun.from_row(row, info.context.lang)

    @strawberry.field(description="Runs, newest first.")
    async def runs(self, info: Info[Context, None], first: int, after: str | None = None) -> Connection[CatalogSyncRun]:
        ctx = info.context
        first, key = page_args(first, after, ctx.lang, (int,))
        after_id = key[0] if key else None
        rows = await _loader(ctx, "runs_page", _runs_page_loader).load((self.pk, first, after_id))
        total = await _loader(ctx, "run_count", _run_count_loader).load(self.pk)
        return build_connection(
            rows, first, total, lambda r: [r.id], lambda r: CatalogSyncRun.from_row(r, ctx.lang), after
        )


# --- loaders ------------------------------------------------------------------------------------

SOURCE_SQL = (
    "SELECT s.id, s.provider_id, s.feed_url, s.format, s.issuer, s.client_id, s.client_auth,"
    " (s.secret_encrypted IS NOT NULL) AS has_secret, s.audience, s.scope, s.interval_minutes, s.default_direction,"
    " s.activity_directions, s.paused, s.cursor, s.next_run_at, s.caught_up_at, s.created_at,"
    " pr.inn AS provider_inn, pr.municipality AS provider_municipality"
    " FROM catalog_sources s JOIN providers pr ON pr.id = s.provider_id"
)
RUN_COLUMNS = (
    "r.id, r.source_id, r.status, r.started_at, r.finished_at, r.trigger, r.full_harvest, r.pages, r.created,"
    " r.updated, r.archived, r.failed, r.unchanged, r.skipped, r.failures, r.message_key, r.message_params, r.events"
)


def _loader(ctx: Context, name: str, factory: Any) -> DataLoader[Any, Any]:
    """A loader of this area kept with the request's loaders (dropped with them after a write)."""
    loaders = ctx.loaders
    key = f"integrations_{name}"
    cached: DataLoader[Any, Any] | None = loaders.__dict__.get(key)
    if cached is None:
        cached = factory(ctx)
        loaders.__dict__[key] = cached
    return cached


def _source_loader(ctx: Context) -> DataLoader[int, Row[Any] | None]:
    return one_by_key(ctx, SOURCE_SQL + " WHERE s.id = ANY(:keys)")


def _run_loader(ctx: Context) -> DataLoader[int, Row[Any] | None]:
    return one_by_key(ctx, f"SELECT {RUN_COLUMNS} FROM catalog_sync_runs r WHERE r.id = ANY(:keys)")


def _last_run_loader(ctx: Context) -> DataLoader[int, Row[Any] | None]:
    return one_by_key(
        ctx,
        f"SELECT DISTINCT ON (r.source_id) {RUN_COLUMNS} FROM catalog_sync_runs r"
        " WHERE r.source_id = ANY(:keys) ORDER BY r.source_id, r.id DESC",
        key="source_id",
    )


def _run_count_loader(ctx: Context) -> DataLoader[int, int]:
    async def load(keys: list[int]) -> list[int]:
        rows = await fetch(
            ctx,
            "SELECT source_id, count(*) AS n FROM catalog_sync_runs WHERE source_id = ANY(:keys) GROUP BY source_id",
            {"keys": list(keys)},
        )
        counts = {r.source_id: int(r.n) for r in rows}
        return [counts.get(k, 0) for k in keys]

    return DataLoader(load_fn=load)


def _runs_page_loader(ctx: Context) -> DataLoader[tuple[int, int, int | None], list[Row[Any]]]:
    """Pages of runs, newest first, for many (source, first, after) at once: one LATERAL query."""

    async def load(keys: list[Hashable]) -> list[list[Row[Any]]]:
        wanted = [k for k in keys if isinstance(k, tuple)]
        rows = await fetch(
            ctx,
            "SELECT k.n AS batch_key, r.* FROM unnest(CAST(:sources AS bigint[]), CAST(:firsts AS int[]),"
            " CAST(:afters AS bigint[]), CAST(:ns AS int[])) AS k(source_id, first, after_id, n)"
            f" CROSS JOIN LATERAL (SELECT {RUN_COLUMNS} FROM catalog_sync_runs r WHERE r.source_id = k.source_id"
            " AND (k.after_id IS NULL OR r.id < k.after_id) ORDER BY r.id DESC LIMIT k.first + 1) r"
            " ORDER BY k.n, r.id DESC",
            {
                "sources": [k[0] for k in wanted],
                "firsts": [k[1] for k in wanted],
                "afters": [k[2] for k in wanted],
                "ns": list(range(len(wanted))),
            },
        )
        grouped: list[list[Row[Any]]] = [[] for _ in wanted]
        for r in rows:
            grouped[r.batch_key].append(r)
        return grouped

    return DataLoader(load_fn=load)


def visible(ctx: Context, row: Row[Any]) -> bool:
    return can_read_source(
        ctx.principal, row.provider_municipality, provider_matches(ctx, row.provider_id, row.provider_inn)
    )


async def source_row(ctx: Context, pk: int) -> Row[Any] | None:
    """The source row if the caller may see it."""
    row = await _loader(ctx, "source", _source_loader).load(pk)
    return row if row is not None and visible(ctx, row) else None


async def load_source(ctx: Context, pk: int) -> CatalogSource | None:
    row = await source_row(ctx, pk)
    return None if row is None else CatalogSource.from_row(row)


async def load_run(ctx: Context, pk: int) -> CatalogSyncRun | None:
    run = await _loader(ctx, "run", _run_loader).load(pk)
    if run is None or await source_row(ctx, run.source_id) is None:
        return None
    return CatalogSyncRun.from_row(run, ctx.lang)


def prime_sources(ctx: Context, rows: list[Row[Any]]) -> None:
    loader = _loader(ctx, "source", _source_loader)
    for row in rows:
        loader.prime(row.id, row)


NODE_LOADERS = {"CatalogSource": load_source, "CatalogSyncRun": load_run}
