"""Running catalog sources on their intervals: one pass over the sources that are due (what the job
queue's ``pdo.catalog_sync`` runs every ``PDO_SYNC_POLL_SECONDS``, and ``pdo-graph sync`` without arguments)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.config import Settings
from pdo_graph.integrations.oidc_client import TokenCache
from pdo_graph.integrations.sync.run import RunSummary, SourceNotFound, SyncBusy, SyncOptions, run_source
from pdo_graph.integrations.sync.store import due_sources

log = logging.getLogger(__name__)


async def sync_due_sources(
    engine: AsyncEngine,
    settings: Settings,
    *,
    options: SyncOptions | None = None,
    tokens: TokenCache | None = None,
    on_finish: Callable[[RunSummary], None] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[RunSummary]:
    """Run every due, unpaused source once (one after the other); sources running elsewhere are skipped."""
    done = []
    for source_id in await due_sources(engine):
        try:
            done.append(
                await run_source(
                    engine,
                    source_id,
                    settings=settings,
                    options=options,
                    tokens=tokens,
                    trigger="SCHEDULE",
                    on_finish=on_finish,
                    transport=transport,
                )
            )
        except (SyncBusy, SourceNotFound):
            continue
    return done


def metrics_hook(metrics: Any | None) -> Callable[[RunSummary], None] | None:
    """Count finished runs in ``Metrics.sync_runs`` by status."""
    if metrics is None:
        return None

    def count(summary: RunSummary) -> None:
        metrics.sync_runs.labels(summary.status).inc()

    return count
