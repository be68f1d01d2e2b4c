"""Running catalog sources on their intervals: the server's background loop and one pass over the
sources that are due (also what ``pdo-graph sync`` does without arguments)."""

from __future__ import annotations

import asyncio
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


def start_background_sync(engine: AsyncEngine, settings: Settings, metrics: Any | None = None) -> asyncio.Task[None]:
    """The server's loop: every ``PDO_SYNC_POLL_SECONDS`` (30), run the sources that are due."""
    poll = settings.sync_poll_seconds
    on_finish = metrics_hook(metrics)

    async def loop() -> None:
        while True:
            try:
                await sync_due_sources(engine, settings, on_finish=on_finish)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background catalog sync failed")
            await asyncio.sleep(poll)

    return asyncio.create_task(loop(), name="pdo-catalog-sync")
