"""Reads of the integrations area: catalog sources (with their provider's ИНН and municipality, for
visibility) and their sync runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pdo_graph.reads.base import Key, Page, Scope, counts_by_owner, one_by_key, pages_by_owner


class SourceRow(Protocol):
    id: int
    provider_id: int
    feed_url: str
    format: str
    issuer: str
    client_id: str
    client_auth: str
    has_secret: bool
    audience: str | None
    scope: str | None
    interval_minutes: int
    default_direction: str | None
    activity_directions: list[dict[str, str]] | None
    paused: bool
    cursor: str | None
    next_run_at: datetime | None
    caught_up_at: datetime | None
    created_at: datetime
    provider_inn: str
    provider_municipality: str


class RunRow(Protocol):
    id: int
    source_id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    trigger: str
    full_harvest: bool
    pages: int
    created: int
    updated: int
    archived: int
    failed: int
    unchanged: int
    skipped: int
    failures: list[dict[str, Any]] | None
    message_key: str | None
    message_params: dict[str, Any] | None
    events: list[dict[str, Any]] | None


SOURCE_FROM = " FROM catalog_sources s JOIN providers pr ON pr.id = s.provider_id"
SOURCE_SQL = (
    "SELECT s.id, s.provider_id, s.feed_url, s.format, s.issuer, s.client_id, s.client_auth,"
    " (s.secret_encrypted IS NOT NULL) AS has_secret, s.audience, s.scope, s.interval_minutes, s.default_direction,"
    " s.activity_directions, s.paused, s.cursor, s.next_run_at, s.caught_up_at, s.created_at,"
    " pr.inn AS provider_inn, pr.municipality AS provider_municipality" + SOURCE_FROM
)
RUN_SQL = (
    "SELECT r.id, r.source_id, r.status, r.started_at, r.finished_at, r.trigger, r.full_harvest, r.pages, r.created,"
    " r.updated, r.archived, r.failed, r.unchanged, r.skipped, r.failures, r.message_key, r.message_params, r.events"
    " FROM catalog_sync_runs r"
)

SOURCE: Key[int, SourceRow | None] = one_by_key("source", SOURCE_SQL + " WHERE s.id = ANY(:keys)", SourceRow)
RUN: Key[int, RunRow | None] = one_by_key("run", RUN_SQL + " WHERE r.id = ANY(:keys)", RunRow)
LAST_RUN: Key[int, RunRow | None] = one_by_key(
    "last_run",
    RUN_SQL.replace("SELECT ", "SELECT DISTINCT ON (r.source_id) ", 1)
    + " WHERE r.source_id = ANY(:keys) ORDER BY r.source_id, r.id DESC",
    RunRow,
    key="source_id",
)
RUNS_OF_SOURCE: Key[Page, list[RunRow]] = pages_by_owner("runs_of_source", RUN_SQL, "r.source_id")
RUN_COUNT: Key[int, int] = counts_by_owner("run_count", "catalog_sync_runs", "source_id")


async def sources_page(
    scope: Scope, municipality: str | None, own_provider: int | None, provider: int | None, after: int, limit: int
) -> tuple[list[SourceRow], int]:
    """Sources by id: of the providers of ``municipality`` (an operator's) or of ``own_provider``,
    optionally of one ``provider``; a page and the total."""
    conditions = []
    params: dict[str, Any] = {"after": after, "n": limit}
    if municipality is not None:
        conditions.append("pr.municipality = :m")
        params["m"] = municipality
    if own_provider is not None:
        conditions.append("s.provider_id = :own")
        params["own"] = own_provider
    if provider is not None:
        conditions.append("s.provider_id = :p")
        params["p"] = provider
    where = " AND ".join(conditions) or "true"
    rows: list[SourceRow] = await scope.rows(
        f"{SOURCE_SQL} WHERE s.id > :after AND {where} ORDER BY s.id LIMIT :n", params
    )
    total = await scope.fetch(f"SELECT count(*){SOURCE_FROM} WHERE {where}", params)
    return rows, int(total[0][0])
