"""Sync runs of catalog sources: the run as operators and providers see it, and ``catalogSourceSync``'s
input and payload. A run is visible with its source."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from pdo_graph.ids import encode_id
from pdo_graph.integrations.sync.messages import render_failure, render_message
from pdo_graph.reads.sync import RUN, RunRow
from pdo_graph.schema.base import Node, UserError, describe_values
from pdo_graph.schema.context import Context
from pdo_graph.schema.sources import CatalogSource


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


describe_values(
    CatalogSyncStatus,
    {
        "RUNNING": "Under way.",
        "SUCCEEDED": "The feed was read to its end and nothing was refused.",
        "PARTIAL": "Some items were refused, or the time budget ran out (the next run continues).",
        "FAILED": "The feed could not be read on (pages before stay saved).",
    },
)
describe_values(
    CatalogSyncTrigger,
    {
        "MANUAL": "catalogSourceSync, by an operator or the provider.",
        "SCHEDULE": "The background scheduler (the source's interval).",
        "CLI": "`pdo-graph sync`.",
    },
)


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
    def from_run(cls, r: RunRow, lang: str) -> CatalogSyncRun:
        """The run as the caller reads it (its messages in ``lang``)."""
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

    @classmethod
    async def load(cls, ctx: Context, pk: int) -> CatalogSyncRun | None:
        """Visible with its source."""
        run = await ctx.loaders[RUN].load(pk)
        if run is None or await CatalogSource.load(ctx, run.source_id) is None:
            return None
        return cls.from_run(run, ctx.lang)

    @strawberry.field(description="The source.")
    async def source(self, info: Info[Context, None]) -> CatalogSource | None:
        return await CatalogSource.load(info.context, self.source_id)


@strawberry.input(description="Operator: sync one source now.")
class CatalogSourceSyncInput:
    source_id: strawberry.ID = strawberry.field(description="The source.")
    from_start: bool = strawberry.field(
        default=False,
        description="Read the whole feed from its start, then archive what it no longer carries.",
    )


@strawberry.type(description="Result of catalogSourceSync: the finished run.")
class CatalogSyncPayload:
    run: CatalogSyncRun | None = strawberry.field(description="The run, finished (within its time budget).")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


NODES: dict[str, type[Node]] = {"CatalogSyncRun": CatalogSyncRun}
