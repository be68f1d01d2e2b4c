"""Queries and mutations of the integrations area (catalog sources, sync runs, push)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from enum import StrEnum
from typing import Any, cast

import strawberry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.types import Info

from pdo_graph.auth.principal import Role as PrincipalRole
from pdo_graph.domain.catalog import ItemResult, Outcome, ProgramItem
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.integrations import push as push_service
from pdo_graph.integrations import sources as source_service
from pdo_graph.integrations.secrets import SecretBox
from pdo_graph.integrations.sync.run import SourceNotFound, SyncBusy, SyncOptions, run_source
from pdo_graph.integrations.sync.scheduler import metrics_hook
from pdo_graph.resolvers.catalog import INPUT, group_data, program_data
from pdo_graph.resolvers.common import pk_of, require_auth, run_write
from pdo_graph.resolvers.node import register_node_loader
from pdo_graph.schema import integrations as schema
from pdo_graph.schema.base import Connection, SafeInt, UserError, build_connection, user_errors
from pdo_graph.schema.catalog import Direction, Program, load_program, own_provider_id
from pdo_graph.schema.context import Context
from pdo_graph.schema.ids import decode_pk
from pdo_graph.schema.paging import page_args

for _name, _loader in schema.NODE_LOADERS.items():
    register_node_loader(_name, _loader)


# --- inputs and payloads -----------------------------------------------------------------------


@strawberry.input(description="An activity label (OpenActive prefLabel or URI) and its direction.")
class ActivityDirectionInput:
    activity: str = strawberry.field(description="Activity label or URI as the feed gives it (case-insensitive).")
    direction: Direction = strawberry.field(description="The direction it maps to.")


@strawberry.input(description="Operator of the provider's municipality: register a provider's catalog feed.")
class CatalogSourceInput:
    provider_id: strawberry.ID = strawberry.field(description="The provider whose catalog the feed carries.")
    feed_url: str = strawberry.field(description="The feed's first page (https; http only on localhost).")
    format: schema.CatalogFormat = strawberry.field(description="Feed format.")
    issuer: str = strawberry.field(description="The provider's OpenID issuer (discovery at /.well-known/...).")
    client_id: str = strawberry.field(description="Our client id at that issuer.")
    client_auth: schema.ClientAuthMethod = strawberry.field(description="Client authentication method.")
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


@strawberry.input(description="Operator: change a source. Absent fields stay; a new secret replaces the stored one.")
class CatalogSourceUpdateInput:
    source_id: strawberry.ID = strawberry.field(description="The source.")
    feed_url: str | None = strawberry.field(
        default=None, description="New feed URL (the next run reads the feed from its start)."
    )
    format: schema.CatalogFormat | None = strawberry.field(default=None, description="New format (same effect).")
    issuer: str | None = strawberry.field(default=None, description="New issuer.")
    client_id: str | None = strawberry.field(default=None, description="New client id.")
    client_auth: schema.ClientAuthMethod | None = strawberry.field(
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


@strawberry.input(description="Operator: pause a source (no background runs) or resume it.")
class CatalogSourcePauseInput:
    source_id: strawberry.ID = strawberry.field(description="The source.")
    paused: bool = strawberry.field(default=True, description="True pauses, false resumes.")


@strawberry.input(description="Operator: forget a source and its runs (the programs it brought stay).")
class CatalogSourceDeleteInput:
    source_id: strawberry.ID = strawberry.field(description="The source.")


@strawberry.input(description="Operator: sync one source now.")
class CatalogSourceSyncInput:
    source_id: strawberry.ID = strawberry.field(description="The source.")
    from_start: bool = strawberry.field(
        default=False,
        description="Read the whole feed from its start, then archive what it no longer carries.",
    )


@strawberry.type(description="Result of catalog source mutations.")
class CatalogSourcePayload:
    source: schema.CatalogSource | None = strawberry.field(description="The source.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of catalogSourceDelete.")
class CatalogSourceDeletePayload:
    deleted_source_id: strawberry.ID | None = strawberry.field(description="The id of the deleted source.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="Result of catalogSourceSync: the finished run.")
class CatalogSyncPayload:
    run: schema.CatalogSyncRun | None = strawberry.field(description="The run, finished (within its time budget).")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


ErrorPolicy = strawberry.enum(
    push_service.ErrorPolicy,
    name="ErrorPolicy",
    description="REJECT_EVERYTHING: all rows or none. REJECT_FAILED_ROWS: refused rows are skipped, the rest saved.",
)
# a pushed row's outcome: the catalog's one Outcome, less ARCHIVED (a push never deletes)
_ROW_OUTCOMES = cast(
    type[StrEnum], StrEnum("RowOutcome", [(o.name, o.value) for o in Outcome if o is not Outcome.ARCHIVED])
)
CatalogUpsertRowStatus = strawberry.enum(
    _ROW_OUTCOMES,
    name="CatalogUpsertRowStatus",
    description=(
        "What happened to a row: CREATED, UPDATED, UNCHANGED, REJECTED (see its userErrors), NOT_SAVED (valid, but"
        " rolled back because other rows were refused under REJECT_EVERYTHING)."
    ),
)


@strawberry.input(description="A group of a pushed program, keyed by the provider's external id.")
class CatalogGroupInput:
    external_id: str = strawberry.field(description="The provider's id of the group (unique within the program).")
    name: str = strawberry.field(description="Name.")
    starts_on: date = strawberry.field(description="First day.")
    ends_on: date = strawberry.field(description="Last day.")
    capacity: int = strawberry.field(description="Seats (never below the seats already taken).")
    price: SafeInt = strawberry.field(description="Kopecks for the whole run (new applications only).")
    enrollment_open: bool | None = strawberry.field(default=True, description="Accept applications (null: true).")
    schedule: str | None = strawberry.field(default=None, description="Schedule as text.")


@strawberry.input(description="A pushed program with ALL its groups: synced groups not listed are archived.")
class CatalogProgramInput:
    external_id: str = strawberry.field(description="The provider's id of the program (unique within the provider).")
    title: str = strawberry.field(description="Title, 3..200 characters.")
    description: str = strawberry.field(description="Description, 10..5000 characters.")
    direction: Direction = strawberry.field(description="Direction.")
    min_age: int = strawberry.field(description="Minimum age in years, inclusive.")
    max_age: int = strawberry.field(description="Maximum age in years, inclusive.")
    municipality: str = strawberry.field(description="Municipality code where it runs.")
    archived: bool | None = strawberry.field(
        default=False, description="True archives it (hidden from search); null: false."
    )
    groups: list[CatalogGroupInput] = strawberry.field(description="Every group of the program (up to 200).")
    normative_cost: SafeInt | None = strawberry.field(default=None, description="Normative cost in kopecks.")
    hours: int | None = strawberry.field(default=None, description="Academic hours.")
    form: str = strawberry.field(default="очная", description="Form of study.")
    address: str | None = strawberry.field(default=None, description="Where classes take place.")
    latitude: float | None = strawberry.field(default=None, description="Latitude (with longitude).")
    longitude: float | None = strawberry.field(default=None, description="Longitude (with latitude).")


@strawberry.input(description="Provider: up to 500 programs with their groups, keyed by the provider's external ids.")
class CatalogUpsertInput:
    items: list[CatalogProgramInput] = strawberry.field(description="The programs (at most 500).")
    error_policy: ErrorPolicy | None = strawberry.field(  # type: ignore[valid-type]
        default=push_service.ErrorPolicy.REJECT_EVERYTHING,
        description="What to do when some rows are refused (null: REJECT_EVERYTHING).",
    )


@strawberry.type(description="The result of one pushed row.")
class CatalogUpsertRowResult:
    external_id: str = strawberry.field(description="The row's external id.")
    status: CatalogUpsertRowStatus = strawberry.field(description="What happened to it.")  # type: ignore[valid-type]
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (paths into the input).")
    program_id: strawberry.Private[int | None]

    @strawberry.field(description="The program as saved; null when the row was not saved.")
    async def program(self, info: Info[Context, None]) -> Program | None:
        return None if self.program_id is None else await load_program(info.context, self.program_id)


@strawberry.type(description="Result of catalogUpsert.")
class CatalogUpsertPayload:
    results: list[CatalogUpsertRowResult] = strawberry.field(description="One result per row, in input order.")
    user_errors: list[UserError] = strawberry.field(description="Refusals of the call as a whole.")


def _mapping(items: list[ActivityDirectionInput] | None) -> list[tuple[str, str]] | None:
    return None if items is None else [(m.activity, m.direction.value) for m in items]


def _value(value: Any) -> Any:
    return value.value if hasattr(value, "value") and not isinstance(value, str | int | bool) else value


def _update_changes(input: CatalogSourceUpdateInput) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("feed_url", "format", "issuer", "client_id", "client_auth", "client_secret", "private_key_pem"):
        value = getattr(input, name)
        if value is not None:
            changes[name] = _value(value)
    if input.interval_minutes is not None:
        changes["interval_minutes"] = input.interval_minutes
    for name in ("key_id", "audience", "scope"):
        value = getattr(input, name)
        if value is not strawberry.UNSET:
            changes[name] = value
    if input.default_direction is not strawberry.UNSET:
        changes["default_direction"] = None if input.default_direction is None else input.default_direction.value
    if input.activity_directions is not strawberry.UNSET:
        changes["activity_directions"] = _mapping(input.activity_directions) or []
    return changes


def _item(item: CatalogProgramInput) -> ProgramItem:
    return ProgramItem(program_data(item), tuple(group_data(g) for g in item.groups))


def _row_result(index: int, item: CatalogProgramInput, result: ItemResult, lang: str) -> CatalogUpsertRowResult:
    """One row's result; the row's problems (its own field names) go under its input path."""
    if result.problems:
        at = ("input", "items", str(index))
        errors = user_errors(
            [Problem(p.code, p.key, [*at, *(p.field or ())], **p.params) for p in result.problems], lang
        )
    elif result.outcome is Outcome.NOT_SAVED:
        errors = user_errors([Problem(ErrorCode.INVALID, "push_not_saved")], lang)
    else:
        errors = []
    return CatalogUpsertRowResult(
        external_id=item.external_id.strip(),
        status=CatalogUpsertRowStatus(result.outcome.value),
        user_errors=errors,
        program_id=result.program_id,
    )


async def _engine(conn: AsyncConnection) -> AsyncEngine:
    return conn.engine


# --- root fields -------------------------------------------------------------------------------


@strawberry.type
class IntegrationsQuery:
    @strawberry.field(
        description=(
            "Catalog sources: an operator sees those of providers of the operator's municipality, a provider its own;"
            " others get an empty list. By id."
        )
    )
    async def catalog_sources(
        self,
        info: Info[Context, None],
        first: int,
        after: str | None = None,
        provider_id: strawberry.ID | None = None,
    ) -> Connection[schema.CatalogSource]:
        ctx = info.context
        first, key = page_args(first, after, ctx.lang, (int,))
        after_id = key[0] if key else 0
        principal = ctx.principal
        conditions = ["s.id > :after"]
        params: dict[str, Any] = {"after": after_id, "n": first + 1}
        if principal.role is PrincipalRole.OPERATOR:
            conditions.append("pr.municipality = :m")
            params["m"] = principal.municipality
        elif principal.role is PrincipalRole.PROVIDER:
            own = await own_provider_id(ctx)
            if own is None:
                return build_connection([], first, 0, lambda r: [r.id], schema.CatalogSource.from_row, after)
            conditions.append("s.provider_id = :own")
            params["own"] = own
        else:
            return build_connection([], first, 0, lambda r: [r.id], schema.CatalogSource.from_row, after)
        if provider_id is not None:
            params["p"] = decode_pk(provider_id, "Provider") or 0
            conditions.append("s.provider_id = :p")
        where = " AND ".join(conditions)
        count_where = " AND ".join(c for c in conditions if c != "s.id > :after")

        async def run(c: AsyncConnection) -> tuple[list[Any], int]:
            rows = (await c.execute(text(f"{schema.SOURCE_SQL} WHERE {where} ORDER BY s.id LIMIT :n"), params)).all()
            total = (
                await c.execute(
                    text(
                        "SELECT count(*) FROM catalog_sources s JOIN providers pr ON pr.id = s.provider_id"
                        f" WHERE {count_where}"
                    ),
                    params,
                )
            ).scalar_one()
            return list(rows), int(total)

        rows, total = await ctx.db.read(run)
        schema.prime_sources(ctx, rows)
        return build_connection(rows, first, total, lambda r: [r.id], schema.CatalogSource.from_row, after)


@strawberry.type
class IntegrationsMutation:
    @strawberry.mutation(description="Operator of the provider's municipality: register a provider's catalog feed.")
    async def catalog_source_create(self, info: Info[Context, None], input: CatalogSourceInput) -> CatalogSourcePayload:
        ctx = info.context
        box = SecretBox.from_settings(ctx.settings)

        async def work(c: AsyncConnection) -> int:
            spec = source_service.SourceSpec(
                provider_id=pk_of(input.provider_id, "Provider", ["input", "providerId"]),
                feed_url=input.feed_url,
                format=input.format.value,
                issuer=input.issuer,
                client_id=input.client_id,
                client_auth=input.client_auth.value,
                client_secret=input.client_secret,
                private_key_pem=input.private_key_pem,
                key_id=input.key_id,
                audience=input.audience,
                scope=input.scope,
                interval_minutes=input.interval_minutes,
                default_direction=None if input.default_direction is None else input.default_direction.value,
                activity_directions=_mapping(input.activity_directions),
            )
            return await source_service.create_source(c, ctx.principal, spec, box)

        pk, errors = await run_write(ctx, work)
        source = None if pk is None else await schema.load_source(ctx, pk)
        return CatalogSourcePayload(source=source, user_errors=errors)

    @strawberry.mutation(description="Operator of the provider's municipality: change a catalog source.")
    async def catalog_source_update(
        self, info: Info[Context, None], input: CatalogSourceUpdateInput
    ) -> CatalogSourcePayload:
        ctx = info.context
        box = SecretBox.from_settings(ctx.settings)
        changes = _update_changes(input)
        return await _on_source(
            ctx, input.source_id, lambda c, pk: source_service.update_source(c, ctx.principal, pk, changes, box)
        )

    @strawberry.mutation(description="Operator of the provider's municipality: pause a source or resume it.")
    async def catalog_source_pause(
        self, info: Info[Context, None], input: CatalogSourcePauseInput
    ) -> CatalogSourcePayload:
        ctx = info.context
        return await _on_source(
            ctx, input.source_id, lambda c, pk: source_service.set_source_paused(c, ctx.principal, pk, input.paused)
        )

    @strawberry.mutation(description="Operator of the provider's municipality: delete a source and its runs.")
    async def catalog_source_delete(
        self, info: Info[Context, None], input: CatalogSourceDeleteInput
    ) -> CatalogSourceDeletePayload:
        ctx = info.context

        async def work(c: AsyncConnection) -> int:
            pk = pk_of(input.source_id, "CatalogSource", ["input", "sourceId"])
            await source_service.delete_source(c, ctx.principal, pk)
            return pk

        pk, errors = await run_write(ctx, work)
        return CatalogSourceDeletePayload(deleted_source_id=None if pk is None else input.source_id, user_errors=errors)

    @strawberry.mutation(
        description=(
            "Operator of the provider's municipality: sync one source now; returns the finished run (within the run's"
            " time budget; a run stopped by the budget is PARTIAL and the next one continues)."
        )
    )
    async def catalog_source_sync(self, info: Info[Context, None], input: CatalogSourceSyncInput) -> CatalogSyncPayload:
        ctx = info.context

        async def authorize(c: AsyncConnection) -> int:
            pk = pk_of(input.source_id, "CatalogSource", ["input", "sourceId"])
            await source_service.managed_source(c, ctx.principal, pk, ["input", "sourceId"])
            return pk

        pk, errors = await run_write(ctx, authorize)
        if pk is None:
            return CatalogSyncPayload(run=None, user_errors=errors)
        engine = await ctx.db.read(_engine)
        budget = ctx.settings.sync_request_budget_seconds
        try:
            summary = await run_source(
                engine,
                pk,
                settings=ctx.settings,
                options=SyncOptions.from_settings(ctx.settings, budget=budget),
                trigger="MANUAL",
                from_start=input.from_start,
                on_finish=metrics_hook(ctx.services.get("metrics")),
            )
        except SyncBusy:
            problem = Problem(ErrorCode.INVALID_TRANSITION, "sync_already_running", ["input", "sourceId"])
            return CatalogSyncPayload(run=None, user_errors=user_errors([problem], ctx.lang))
        except SourceNotFound:
            problem = Problem(ErrorCode.NOT_FOUND, "not_found", ["input", "sourceId"])
            return CatalogSyncPayload(run=None, user_errors=user_errors([problem], ctx.lang))
        ctx.reset_loaders()
        return CatalogSyncPayload(run=await schema.load_run(ctx, summary.run_id), user_errors=[])

    @strawberry.mutation(
        description=(
            "Provider (staff or machine client): create or update up to 500 programs of the caller's organisation with"
            " their groups, keyed by external ids. REJECT_EVERYTHING (default) saves all rows or none;"
            " REJECT_FAILED_ROWS saves the valid rows. One result per row."
        )
    )
    async def catalog_upsert(self, info: Info[Context, None], input: CatalogUpsertInput) -> CatalogUpsertPayload:
        ctx = info.context
        require_auth(ctx)
        own = await own_provider_id(ctx)
        policy = push_service.ErrorPolicy(input.error_policy or push_service.ErrorPolicy.REJECT_EVERYTHING)
        items = input.items[: push_service.MAX_ITEMS + 1]
        rows = [_item(item) for item in items]
        top: list[UserError] = []
        try:
            results = await ctx.db.write(lambda c: push_service.push_catalog(c, ctx.principal, own, rows, policy))
        except DomainError as exc:
            return CatalogUpsertPayload(
                results=[], user_errors=user_errors([p.under(INPUT) for p in exc.problems], ctx.lang)
            )
        except push_service.PushRejected as exc:
            results = exc.results
            top = user_errors(
                [Problem(ErrorCode.INVALID, "push_rejected", ["input", "items"], count=exc.refused)], ctx.lang
            )
        finally:
            ctx.reset_loaders()
        return CatalogUpsertPayload(
            results=[_row_result(i, item, r, ctx.lang) for i, (item, r) in enumerate(zip(items, results, strict=True))],
            user_errors=top,
        )


async def _on_source(
    ctx: Context, source_id: str, action: Callable[[AsyncConnection, int], Awaitable[None]]
) -> CatalogSourcePayload:
    """Change one catalog source in one unit of work; the payload shows it as it is now."""

    async def work(c: AsyncConnection) -> int:
        pk = pk_of(source_id, "CatalogSource", ["input", "sourceId"])
        await action(c, pk)
        return pk

    pk, errors = await run_write(ctx, work)
    source = None if pk is None else await schema.load_source(ctx, pk)
    return CatalogSourcePayload(source=source, user_errors=errors)


# Root fields of this area, merged into Query and Mutation by pdo_graph.schema.root.
QUERIES: list[type] = [IntegrationsQuery]
MUTATIONS: list[type] = [IntegrationsMutation]
TYPES: list[type] = [schema.CatalogSource, schema.CatalogSyncRun]
