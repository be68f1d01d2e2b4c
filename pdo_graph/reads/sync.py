"""Reads of sync runs: one, a source's latest, a source's pages and count."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pdo_graph.reads.base import Key, Page, counts_by_owner, one_by_key, pages_by_owner


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


RUN_SQL = (
    "SELECT r.id, r.source_id, r.status, r.started_at, r.finished_at, r.trigger, r.full_harvest, r.pages, r.created,"
    " r.updated, r.archived, r.failed, r.unchanged, r.skipped, r.failures, r.message_key, r.message_params, r.events"
    " FROM catalog_sync_runs r"
)

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
