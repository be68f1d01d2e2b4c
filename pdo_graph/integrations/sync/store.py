"""The SQL of sync runs: the source's row and cursor, the run's row and counters, the per-item feed
state (``catalog_feed_items``), the one-run-per-source lock and the sources that are due.

Each function runs on the connection it is given, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.domain.messages import render
from pdo_graph.integrations.sources import LOCK_CLASS, lock_key
from pdo_graph.integrations.sync.rpde import FeedItem

SOURCE_SQL = (
    "SELECT s.*, pr.inn AS provider_inn, pr.municipality AS provider_municipality"
    " FROM catalog_sources s JOIN providers pr ON pr.id = s.provider_id WHERE s.id = :id"
)


class SyncSource(Protocol):
    """The source a run reads (``SOURCE_SQL``): where it is, how to authenticate, where the feed stands."""

    id: int
    provider_id: int
    provider_inn: str
    provider_municipality: str
    feed_url: str
    format: str
    issuer: str
    client_id: str
    client_auth: str
    secret_encrypted: str | None
    audience: str | None
    scope: str | None
    default_direction: str | None
    activity_directions: list[dict[str, str]] | None
    cursor: str | None
    position_modified: int | None
    position_id: str | None
    harvest_run_id: int | None
    caught_up_at: datetime | None


def jsonb(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


@dataclass
class Counts:
    """Items by what became of them, as the run's row counts them."""

    created: int = 0
    updated: int = 0
    archived: int = 0
    failed: int = 0
    unchanged: int = 0
    skipped: int = 0

    def add(self, other: Counts) -> None:
        for name in ("created", "updated", "archived", "failed", "unchanged", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Tally(Counts):
    """What a page did: its counts and the failures to store."""

    failures: list[dict[str, Any]] = field(default_factory=list)


# --- the run's life ----------------------------------------------------------------------------


async def source(conn: AsyncConnection, source_id: int) -> SyncSource | None:
    row: SyncSource | None = (await conn.execute(text(SOURCE_SQL), {"id": source_id})).first()
    return row


async def fail_interrupted(conn: AsyncConnection, source_id: int) -> None:
    """Runs of the source left RUNNING by a crashed process are FAILED (interrupted)."""
    await conn.execute(
        text(
            "UPDATE catalog_sync_runs SET status = 'FAILED', finished_at = now(), message_key = 'sync_interrupted',"
            " message = :m WHERE source_id = :s AND status = 'RUNNING'"
        ),
        {"s": source_id, "m": render("sync_interrupted", "ru", {})},
    )


async def insert_run(conn: AsyncConnection, source_id: int, trigger: str, full_harvest: bool) -> int:
    row = await conn.execute(
        text(
            "INSERT INTO catalog_sync_runs (source_id, status, trigger, full_harvest)"
            " VALUES (:s, 'RUNNING', :t, :h) RETURNING id"
        ),
        {"s": source_id, "t": trigger, "h": full_harvest},
    )
    return int(row.scalar_one())


async def start_harvest(conn: AsyncConnection, source_id: int, run_id: int) -> None:
    """The run reads the feed from its start and remembers every item it sees."""
    await conn.execute(
        text(
            "UPDATE catalog_sources SET harvest_run_id = :r, cursor = NULL, position_modified = NULL,"
            " position_id = NULL WHERE id = :s"
        ),
        {"r": run_id, "s": source_id},
    )


async def has_feed_state(conn: AsyncConnection, source_id: int) -> bool:
    row = await conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM catalog_feed_items WHERE source_id = :s)"), {"s": source_id}
    )
    return bool(row.scalar())


async def finish_run(
    conn: AsyncConnection,
    source_id: int,
    run_id: int,
    status: str,
    message: tuple[str | None, dict[str, Any], str | None],
    events: list[dict[str, Any]],
    soon: bool,
) -> None:
    """The run's end (status, message key, params and Russian text, events); the source is next due
    after its interval, or in a minute when ``soon`` (the time budget ran out)."""
    key, params, text_ru = message
    await conn.execute(
        text(
            "UPDATE catalog_sync_runs SET status = :status, finished_at = now(), message_key = :key,"
            " message_params = CAST(:params AS jsonb), message = :message, events = CAST(:events AS jsonb)"
            " WHERE id = :id"
        ),
        {
            "status": status,
            "key": key,
            "params": jsonb(params),
            "message": text_ru,
            "events": jsonb(events),
            "id": run_id,
        },
    )
    await conn.execute(
        text(
            "UPDATE catalog_sources SET next_run_at = now() + make_interval(mins => CASE WHEN :soon"
            " THEN 1 ELSE interval_minutes END) WHERE id = :id"
        ),
        {"soon": soon, "id": source_id},
    )


# --- a page ------------------------------------------------------------------------------------


async def synchronous_commit_off(conn: AsyncConnection) -> None:
    """For this transaction: a commit lost in a database crash only means the page is read again."""
    await conn.execute(text("SET LOCAL synchronous_commit TO off"))


async def stored_modified(
    conn: AsyncConnection, source_id: int, items: Sequence[FeedItem]
) -> dict[tuple[str, str], int]:
    """``modified`` of the items as last applied (kind, id -> modified)."""
    rows = await conn.execute(
        text(
            "SELECT f.kind, f.item_id, f.modified FROM catalog_feed_items f"
            " JOIN unnest(CAST(:k AS text[]), CAST(:i AS text[])) AS u(kind, item_id)"
            " ON f.kind = u.kind AND f.item_id = u.item_id WHERE f.source_id = :s"
        ),
        {"k": [i.kind for i in items], "i": [i.id for i in items], "s": source_id},
    )
    return {(r.kind, r.item_id): int(r.modified) for r in rows}


async def record_applied(conn: AsyncConnection, source_id: int, harvest: int | None, items: Sequence[FeedItem]) -> None:
    """The items' feed state: their ``modified``, whether deleted, the harvest that saw them."""
    await conn.execute(
        text(
            "INSERT INTO catalog_feed_items (source_id, kind, item_id, modified, deleted, harvest_run_id)"
            " SELECT :s, u.kind, u.item_id, u.modified, u.deleted, :h FROM unnest(CAST(:k AS text[]),"
            " CAST(:i AS text[]), CAST(:m AS bigint[]), CAST(:d AS boolean[]))"
            " AS u(kind, item_id, modified, deleted)"
            " ON CONFLICT (source_id, kind, item_id) DO UPDATE SET modified = excluded.modified,"
            " deleted = excluded.deleted,"
            " harvest_run_id = coalesce(excluded.harvest_run_id, catalog_feed_items.harvest_run_id)"
        ),
        {
            "s": source_id,
            "h": harvest,
            "k": [i.kind for i in items],
            "i": [i.id for i in items],
            "m": [i.modified for i in items],
            "d": [i.state == "deleted" for i in items],
        },
    )


async def record_seen(conn: AsyncConnection, source_id: int, harvest: int, items: Sequence[FeedItem]) -> None:
    """Items read but not applied (stale or refused) still count as present in the harvest."""
    await conn.execute(
        text(
            "UPDATE catalog_feed_items f SET harvest_run_id = :h FROM unnest(CAST(:k AS text[]),"
            " CAST(:i AS text[])) AS u(kind, item_id) WHERE f.source_id = :s AND f.kind = u.kind"
            " AND f.item_id = u.item_id"
        ),
        {"s": source_id, "h": harvest, "k": [i.kind for i in items], "i": [i.id for i in items]},
    )


async def commit_page(
    conn: AsyncConnection,
    source_id: int,
    run_id: int,
    cursor: str,
    position: tuple[int | None, str | None],
    tally: Tally,
    failures: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> None:
    """The source's cursor and position and the run's counters, in the page's transaction."""
    await conn.execute(
        text(
            "WITH s AS (UPDATE catalog_sources SET cursor = :cursor, position_modified = :m, position_id = :i"
            " WHERE id = :source)"
            " UPDATE catalog_sync_runs SET pages = pages + 1, created = created + :created,"
            " updated = updated + :updated, archived = archived + :archived, failed = failed + :failed,"
            " unchanged = unchanged + :unchanged, skipped = skipped + :skipped,"
            " failures = failures || CAST(:failures AS jsonb), events = CAST(:events AS jsonb) WHERE id = :id"
        ),
        {
            "cursor": cursor,
            "m": position[0],
            "i": position[1],
            "source": source_id,
            "created": tally.created,
            "updated": tally.updated,
            "archived": tally.archived,
            "failed": tally.failed,
            "unchanged": tally.unchanged,
            "skipped": tally.skipped,
            "failures": jsonb(failures),
            "events": jsonb(events),
            "id": run_id,
        },
    )


# --- the end of the feed -----------------------------------------------------------------------


async def unseen_in_harvest(conn: AsyncConnection, source_id: int, harvest: int) -> list[str]:
    """Mark deleted the items this harvest did not see; returns their ids."""
    rows = await conn.execute(
        text(
            "UPDATE catalog_feed_items SET deleted = true WHERE source_id = :s AND NOT deleted"
            " AND harvest_run_id IS DISTINCT FROM :h RETURNING item_id"
        ),
        {"s": source_id, "h": harvest},
    )
    return sorted(set(rows.scalars()))


async def caught_up(conn: AsyncConnection, source_id: int, run_id: int, cursor: str, archived: int) -> None:
    """The end of the feed reached: the cursor stays on the last page, the harvest (if any) is over."""
    await conn.execute(
        text("UPDATE catalog_sources SET cursor = :cursor, caught_up_at = now(), harvest_run_id = NULL WHERE id = :id"),
        {"cursor": cursor, "id": source_id},
    )
    await conn.execute(
        text("UPDATE catalog_sync_runs SET pages = pages + 1, archived = archived + :n WHERE id = :id"),
        {"n": archived, "id": run_id},
    )


# --- locks and due sources ---------------------------------------------------------------------


async def try_lock(conn: AsyncConnection, source_id: int) -> bool:
    """The session-level lock of "one run per source at a time" (across processes)."""
    key = {"cls": LOCK_CLASS, "key": lock_key(source_id)}
    return bool((await conn.execute(text("SELECT pg_try_advisory_lock(:cls, :key)"), key)).scalar())


async def unlock(conn: AsyncConnection, source_id: int) -> None:
    await conn.execute(text("SELECT pg_advisory_unlock(:cls, :key)"), {"cls": LOCK_CLASS, "key": lock_key(source_id)})


async def due_sources(engine: AsyncEngine, limit: int = 50) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id FROM catalog_sources WHERE NOT paused AND (next_run_at IS NULL OR next_run_at <= now())"
                " ORDER BY next_run_at NULLS FIRST, id LIMIT :n"
            ),
            {"n": limit},
        )
        return [int(r) for r in rows.scalars()]


async def unpaused_sources(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT id FROM catalog_sources WHERE NOT paused ORDER BY id"))
        return [int(r) for r in rows.scalars()]


async def provider_names(engine: AsyncEngine, source_ids: list[int]) -> dict[int, str]:
    """The name of each source's provider (source id -> name)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT s.id, pr.name FROM catalog_sources s JOIN providers pr ON pr.id = s.provider_id"
                " WHERE s.id = ANY(:ids)"
            ),
            {"ids": source_ids},
        )
        return {int(r.id): str(r.name) for r in rows}
