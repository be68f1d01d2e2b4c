"""Reads of catalog sources (with their provider's municipality, for visibility)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pdo_graph.reads.base import Key, Scope, one_by_key


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


SOURCE_FROM = " FROM catalog_sources s JOIN providers pr ON pr.id = s.provider_id"
SOURCE_SQL = (
    "SELECT s.id, s.provider_id, s.feed_url, s.format, s.issuer, s.client_id, s.client_auth,"
    " (s.secret_encrypted IS NOT NULL) AS has_secret, s.audience, s.scope, s.interval_minutes, s.default_direction,"
    " s.activity_directions, s.paused, s.cursor, s.next_run_at, s.caught_up_at, s.created_at,"
    " pr.inn AS provider_inn, pr.municipality AS provider_municipality" + SOURCE_FROM
)
SOURCE: Key[int, SourceRow | None] = one_by_key("source", SOURCE_SQL + " WHERE s.id = ANY(:keys)", SourceRow)


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
