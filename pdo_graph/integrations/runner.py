"""The sync runner: one run of one catalog source, recorded in ``catalog_sync_runs``.

A run holds a session-level advisory lock on its own connection for its whole life (one run per
source at a time, across processes), then reads the feed page by page. Each page is one
transaction: its upserts and archives, the per-item feed state, the source's cursor (the feed's
``next``) and position, and the run's counters commit together, so a crash between (or inside)
pages loses nothing and repeats nothing: the next run resumes at the stored cursor. A run left
``RUNNING`` by a crashed process is marked FAILED (interrupted) by the next run of its source.

Statuses: SUCCEEDED (the end of the feed reached, no item refused), PARTIAL (some items refused, or
the time budget ran out: the next run continues), FAILED (the feed could not be read on: auth,
HTTP, retries exhausted, a malformed page, a feed breaking the RPDE ordering; the pages before
stay committed).

Full re-harvest: the first run of a source, ``from_start``, or a source that has not reached the
end of its feed for longer than publishers keep tombstones (7 days) reads the feed from its start;
when it reaches the end, the programs of items it no longer saw are archived.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpx
import orjson
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.config import Settings
from pdo_graph.db.session import run_transaction
from pdo_graph.domain import catalog_batch
from pdo_graph.domain.catalog_batch import BatchResult, Checked, ProgramWithGroups, check_program_with_groups
from pdo_graph.domain.errors import Problem
from pdo_graph.domain.messages import render
from pdo_graph.integrations import writer
from pdo_graph.integrations.feeds import (
    BadEnvelope,
    FeedItem,
    ItemRefused,
    MappingContext,
    PageError,
    known_kinds,
    map_item,
    parse_page,
    refused,
)
from pdo_graph.integrations.fetch import BudgetExhausted, EventLog, FeedError, FeedFetcher, RetryPolicy
from pdo_graph.integrations.oidc_client import PROCESS_TOKENS, ClientConfig, TokenCache
from pdo_graph.integrations.secrets import SecretUnreadable, open_secret
from pdo_graph.integrations.sources import LOCK_CLASS, lock_key, same_origin

log = logging.getLogger(__name__)

RUNNING, SUCCEEDED, PARTIAL, FAILED = "RUNNING", "SUCCEEDED", "PARTIAL", "FAILED"

SOURCE_SQL = (
    "SELECT s.*, pr.inn AS provider_inn, pr.municipality AS provider_municipality"
    " FROM catalog_sources s JOIN providers pr ON pr.id = s.provider_id WHERE s.id = :id"
)


@dataclass(frozen=True)
class SyncOptions:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    time_budget: float = 600.0  # seconds per run
    max_items_per_page: int = 5000
    batch: bool = True  # set-based writes per page (item by item when False)
    tombstone_days: float = 7.0  # publishers keep deletions at least this long
    failures_kept: int = 200  # failures stored per run (all are counted)
    prefetch: int = 1  # pages fetched and checked ahead of the one being written

    @classmethod
    def from_settings(cls, settings: Settings, budget: float | None = None) -> SyncOptions:
        retry = RetryPolicy(request_timeout=settings.sync_request_timeout)
        return cls(
            retry=retry,
            time_budget=budget if budget is not None else settings.sync_time_budget_seconds,
        )


class SyncBusy(Exception):
    """Another run of this source holds its lock."""


class SourceNotFound(Exception):
    """No source with this id."""


@dataclass
class RunSummary:
    """Where a run stands (passed to progress callbacks) and how it ended."""

    run_id: int
    source_id: int
    status: str = RUNNING
    pages: int = 0
    created: int = 0
    updated: int = 0
    archived: int = 0
    failed: int = 0
    unchanged: int = 0
    skipped: int = 0
    message_key: str | None = None
    message_params: dict[str, Any] = field(default_factory=dict)
    full_harvest: bool = False
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def items(self) -> int:
        return self.created + self.updated + self.archived + self.failed + self.unchanged + self.skipped

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def message(self, lang: str = "ru") -> str | None:
        return None if self.message_key is None else render_message(self.message_key, self.message_params, lang)


@dataclass
class RunHooks:
    """Test seams: called with the page number inside the page transaction / after its commit."""

    before_commit: Callable[[int], Any] | None = None
    after_commit: Callable[[int], Any] | None = None


async def _call(hook: Callable[[int], Any] | None, page: int) -> None:
    if hook is not None:
        result = hook(page)
        if inspect.isawaitable(result):
            await result


@dataclass
class _PageTally:
    created: int = 0
    updated: int = 0
    archived: int = 0
    failed: int = 0
    unchanged: int = 0
    skipped: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Prepared:
    """A fetched page, checked and mapped ahead of its transaction (no database needed)."""

    url: str
    next_url: str
    items: list[FeedItem | BadEnvelope]
    failures: list[dict[str, Any]]  # broken envelopes and unknown kinds
    superseded: int  # earlier entries of an id repeated later on the page
    fresh: list[FeedItem]  # the newest entry of each id, of a known kind
    mapped: dict[str, ProgramWithGroups]  # updated items that map to a program
    checked: dict[str, Checked | BatchResult]  # the catalog rules needing no database, per mapped item
    refused: dict[str, list[Problem]]  # updated items that do not map
    position: tuple[int | None, set[str]] = (None, set())


@dataclass
class _End:
    url: str


def _prepare(body: Any, url: str, format_: str, mapping: MappingContext, max_items: int, check: bool) -> _Prepared:
    """Parse a page, map its items and check them against the catalog rules (pure, thread-safe)."""
    parsed = parse_page(body, max_items)
    page = _Prepared(
        url=url,
        next_url=urljoin(url, parsed.next_url),
        items=parsed.items,
        failures=[],
        superseded=0,
        fresh=[],
        mapped={},
        checked={},
        refused={},
    )
    kinds = known_kinds(format_)
    latest: dict[str, FeedItem] = {}
    for item in parsed.items:
        if isinstance(item, BadEnvelope):
            page.failures.append(_failure(item.id, item.kind, [item.problem]))
        elif item.kind not in kinds:
            unknown = refused("sync_item_unknown_kind", ["kind"], kind=item.kind[:40])
            page.failures.append(_failure(item.id, item.kind, unknown.problems))
        else:
            if item.id in latest:
                page.superseded += 1
            latest[item.id] = item
    page.fresh = list(latest.values())
    for item in page.fresh:
        if item.state != "updated":
            continue
        try:
            mapped = map_item(format_, item, mapping)
        except ItemRefused as exc:
            page.refused[item.id] = exc.problems
            continue
        row = ProgramWithGroups(
            mapped.program,
            mapped.groups,
            at=("data",),
            group_at=tuple(
                ("data", "groups", g.external_id or "") if format_ == "PDO_CATALOG_V1" else ("data",)
                for g in mapped.groups
            ),
        )
        page.mapped[item.id] = row
        if check:
            page.checked[item.id] = check_program_with_groups(row)
    return page


def _failure(item_id: str, kind: str, problems: Sequence[Problem]) -> dict[str, Any]:
    return {
        "externalId": item_id,
        "kind": kind,
        "problems": [{"key": p.key, "params": p.params, "field": p.field} for p in problems],
    }


def render_message(key: str, params: dict[str, Any] | None, lang: str) -> str:
    """A stored message; a ``cause`` parameter (a nested key and params) is rendered first."""
    values = dict(params or {})
    cause = values.get("cause")
    if isinstance(cause, dict):
        values["cause"] = render_message(str(cause.get("key")), cause.get("params") or {}, lang)
    return render(key, lang, values)


def render_failure(failure: dict[str, Any], lang: str) -> str:
    """A stored failure as one line: ``groups.G-2.capacity: <message>; ...``."""
    parts = []
    for p in failure.get("problems", []):
        message = render_message(str(p.get("key")), p.get("params") or {}, lang)
        path = [str(x) for x in (p.get("field") or [])]
        if path and path[0] == "data":
            path = path[1:]
        parts.append(f"{'.'.join(path)}: {message}" if path else message)
    return "; ".join(parts)


def _jsonb(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class _Run:
    def __init__(
        self,
        conn: AsyncConnection,
        source_id: int,
        settings: Settings,
        options: SyncOptions,
        tokens: TokenCache,
        trigger: str,
        from_start: bool,
        progress: Callable[[RunSummary], None] | None,
        hooks: RunHooks,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.conn = conn
        self.source_id = source_id
        self.settings = settings
        self.options = options
        self.tokens = tokens
        self.trigger = trigger
        self.from_start = from_start
        self.progress = progress
        self.hooks = hooks
        self.transport = transport
        self.events = EventLog()
        self.failures_stored = 0
        self._position_id: str | None = None
        # Whether the source had feed state when the run began: if not, nothing this run reads can be
        # stale (`modified` never goes back within a run), and the per-page lookup is skipped.
        self._prior_state = True
        self.summary: RunSummary | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def execute(self) -> RunSummary:
        src = await self._begin()
        summary = self.summary
        assert summary is not None
        params: dict[str, Any] = {}
        status, key = SUCCEEDED, None
        try:
            await self._read_feed(src)
        except BudgetExhausted:
            status, key, params = PARTIAL, "sync_budget_exhausted", {"seconds": round(self.options.time_budget)}
        except (FeedError, PageError) as exc:
            status, key, params = FAILED, exc.key, exc.params
        except SecretUnreadable:
            status, key, params = FAILED, "sync_secret_unreadable", {}
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self._finish(FAILED, "sync_cancelled", {}, budget_stop=False)
            raise
        except Exception:
            log.exception("catalog sync of source %s failed", self.source_id)
            status, key, params = FAILED, "sync_internal_error", {}
        if status == SUCCEEDED and summary.failed:
            status, key, params = PARTIAL, "sync_items_refused", {"count": summary.failed}
        await self._finish(status, key, params, budget_stop=key == "sync_budget_exhausted")
        return summary

    async def _begin(self) -> Row[Any]:
        conn = self.conn

        async def begin(c: AsyncConnection) -> tuple[Row[Any], int, bool]:
            src = (
                await c.execute(
                    text(SOURCE_SQL),
                    {"id": self.source_id},
                )
            ).first()
            if src is None:
                raise SourceNotFound(self.source_id)
            await c.execute(
                text(
                    "UPDATE catalog_sync_runs SET status = 'FAILED', finished_at = now(), message_key = 'sync_interrupted',"
                    " message = :m WHERE source_id = :s AND status = 'RUNNING'"
                ),
                {"s": self.source_id, "m": render("sync_interrupted", "ru", {})},
            )
            outage = src.caught_up_at is not None and datetime.now(UTC) - src.caught_up_at > timedelta(
                days=self.options.tombstone_days
            )
            new_harvest = self.from_start or (src.harvest_run_id is None and (src.cursor is None or outage))
            run_id = (
                await c.execute(
                    text(
                        "INSERT INTO catalog_sync_runs (source_id, status, trigger, full_harvest)"
                        " VALUES (:s, 'RUNNING', :t, :h) RETURNING id"
                    ),
                    {"s": self.source_id, "t": self.trigger, "h": new_harvest or src.harvest_run_id is not None},
                )
            ).scalar_one()
            if new_harvest:
                await c.execute(
                    text(
                        "UPDATE catalog_sources SET harvest_run_id = :r, cursor = NULL, position_modified = NULL,"
                        " position_id = NULL WHERE id = :s"
                    ),
                    {"r": run_id, "s": self.source_id},
                )
                src = (
                    await c.execute(
                        text(SOURCE_SQL),
                        {"id": self.source_id},
                    )
                ).one()
            return src, int(run_id), outage and new_harvest and not self.from_start

        src, run_id, outage = await run_transaction(conn, begin)
        self._prior_state = bool(
            (
                await conn.execute(
                    text("SELECT EXISTS (SELECT 1 FROM catalog_feed_items WHERE source_id = :s)"),
                    {"s": self.source_id},
                )
            ).scalar()
        )
        await conn.commit()  # no transaction stays open while the feed is read
        self.summary = RunSummary(run_id=run_id, source_id=self.source_id, full_harvest=src.harvest_run_id is not None)
        if outage:
            self.events.add("sync_event_outage_reharvest", days=self.options.tombstone_days)
        elif self.summary.full_harvest:
            self.events.add("sync_event_full_harvest")
        return src

    async def _finish(self, status: str, key: str | None, params: dict[str, Any], budget_stop: bool) -> None:
        summary = self.summary
        assert summary is not None
        summary.status = status
        summary.message_key = key
        summary.message_params = params
        summary.finished = time.monotonic()
        if self.events.dropped:
            self.events.events.append(
                {"at": None, "key": "sync_event_dropped", "params": {"count": self.events.dropped}}
            )
            self.events.dropped = 0

        async def finish(c: AsyncConnection) -> None:
            await c.execute(
                text(
                    "UPDATE catalog_sync_runs SET status = :status, finished_at = now(), message_key = :key,"
                    " message_params = CAST(:params AS jsonb), message = :message, events = CAST(:events AS jsonb)"
                    " WHERE id = :id"
                ),
                {
                    "status": status,
                    "key": key,
                    "params": _jsonb(params),
                    "message": summary.message("ru"),
                    "events": _jsonb(self.events.events),
                    "id": summary.run_id,
                },
            )
            await c.execute(
                text(
                    "UPDATE catalog_sources SET next_run_at = now() + make_interval(mins => CASE WHEN :soon"
                    " THEN 1 ELSE interval_minutes END) WHERE id = :id"
                ),
                {"soon": budget_stop, "id": self.source_id},
            )

        if self.conn.in_transaction():
            await self.conn.rollback()
        await run_transaction(self.conn, finish)
        await self.conn.commit()

    # -- reading the feed ----------------------------------------------------------------------

    async def _read_feed(self, src: Row[Any]) -> None:
        """Pages are fetched and checked (a producer task, up to ``prefetch`` pages ahead, the CPU work in a
        thread) while earlier pages are written (here): each page still commits alone and in order."""
        summary = self.summary
        assert summary is not None
        secret = open_secret(self.settings, src.secret_encrypted)
        config = ClientConfig(
            issuer=src.issuer,
            client_id=src.client_id,
            auth_method=src.client_auth,
            secret=secret,
            resource=src.audience,
            scope=src.scope,
        )
        mapping = MappingContext(
            provider_inn=src.provider_inn,
            municipality=src.provider_municipality,
            default_direction=src.default_direction,
            activity_directions={
                str(m["activity"]).lower(): str(m["direction"]) for m in src.activity_directions or []
            },
        )
        deadline = summary.started + self.options.time_budget
        harvest = src.harvest_run_id
        self._position_id = src.position_id
        queue: asyncio.Queue[_Prepared | _End | BaseException] = asyncio.Queue()
        slots = asyncio.Semaphore(self.options.prefetch + 1)
        async with httpx.AsyncClient(
            timeout=self.options.retry.request_timeout, follow_redirects=False, transport=self.transport
        ) as http:
            fetcher = FeedFetcher(http, self.tokens.provider_for(config), self.options.retry, deadline, self.events)
            producer = asyncio.create_task(self._produce(src, fetcher, mapping, queue, slots))
            try:
                while True:
                    entry = await queue.get()
                    if isinstance(entry, BaseException):
                        raise entry
                    if isinstance(entry, _End):
                        await self._end_of_feed(src, entry.url, harvest)
                        return
                    await self._apply(src, entry, harvest)
                    slots.release()
                    if entry.items and entry.next_url == entry.url:
                        raise PageError("sync_page_next_is_self")
            finally:
                producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)

    async def _produce(
        self,
        src: Row[Any],
        fetcher: FeedFetcher,
        mapping: MappingContext,
        queue: asyncio.Queue[_Prepared | _End | BaseException],
        slots: asyncio.Semaphore,
    ) -> None:
        url: str = src.cursor or src.feed_url
        position: tuple[int | None, set[str]] = (
            src.position_modified,
            {src.position_id} if src.position_id is not None else set(),
        )
        empty_seen: set[str] = set()
        try:
            while True:
                await slots.acquire()
                if fetcher.remaining() <= 0:
                    raise BudgetExhausted()
                body = await fetcher.get_json(url)
                page = await asyncio.to_thread(
                    _prepare, body, url, src.format, mapping, self.options.max_items_per_page, self.options.batch
                )
                if not same_origin(page.next_url, src.feed_url):
                    raise PageError("sync_page_foreign_next")
                if not page.items and page.next_url == url:
                    queue.put_nowait(_End(url))
                    return
                if not page.items:
                    if url in empty_seen:
                        raise PageError("sync_page_loop")
                    empty_seen.add(url)
                else:
                    empty_seen.clear()
                position = self._check_order(page.items, position)
                page.position = position
                queue.put_nowait(page)
                if page.items and page.next_url == url:
                    return
                url = page.next_url
        except Exception as exc:  # handed to the writer, which raises it after the pages before
            queue.put_nowait(exc)

    @staticmethod
    def _check_order(
        items: Sequence[FeedItem | BadEnvelope], position: tuple[int | None, set[str]]
    ) -> tuple[int | None, set[str]]:
        """The position after these items; PageError when they go back or repeat (the `>=` bug)."""
        modified, ids = position[0], set(position[1])
        for item in items:
            if item.modified is None:
                continue
            if modified is not None and (item.modified < modified or (item.modified == modified and item.id in ids)):
                raise PageError("sync_feed_ordering", id=item.id[:80], modified=item.modified, previous=modified)
            if modified is None or item.modified > modified:
                modified, ids = item.modified, {item.id}
            else:
                ids.add(item.id)
        return modified, ids

    async def _apply(self, src: Row[Any], page: _Prepared, harvest: int | None) -> None:
        summary = self.summary
        assert summary is not None
        page_no = summary.pages + 1
        position = page.position
        last_id = next(
            (i.id for i in reversed(page.items) if i.modified is not None and i.modified == position[0]), None
        )
        position_id = None if position[0] is None else last_id if last_id is not None else self._position_id

        async def work(c: AsyncConnection) -> _PageTally:
            # A page and its cursor commit together, so a commit lost in a database crash only means
            # the page is read again: the commit need not wait for the WAL flush.
            await c.execute(text("SET LOCAL synchronous_commit TO off"))
            tally = await self._write_items(c, src, page, harvest)
            room = max(0, self.options.failures_kept - self.failures_stored)
            await c.execute(
                text(
                    "WITH s AS (UPDATE catalog_sources SET cursor = :cursor, position_modified = :m, position_id = :i"
                    " WHERE id = :source)"
                    " UPDATE catalog_sync_runs SET pages = pages + 1, created = created + :created,"
                    " updated = updated + :updated, archived = archived + :archived, failed = failed + :failed,"
                    " unchanged = unchanged + :unchanged, skipped = skipped + :skipped,"
                    " failures = failures || CAST(:failures AS jsonb), events = CAST(:events AS jsonb) WHERE id = :id"
                ),
                {
                    "cursor": page.next_url,
                    "m": position[0],
                    "i": position_id,
                    "source": self.source_id,
                    "created": tally.created,
                    "updated": tally.updated,
                    "archived": tally.archived,
                    "failed": tally.failed,
                    "unchanged": tally.unchanged,
                    "skipped": tally.skipped,
                    "failures": _jsonb(tally.failures[:room]),
                    "events": _jsonb(self.events.events),
                    "id": summary.run_id,
                },
            )
            await _call(self.hooks.before_commit, page_no)
            return tally

        tally = await run_transaction(self.conn, work)
        await self.conn.commit()
        self._position_id = position_id
        self.failures_stored += min(len(tally.failures), max(0, self.options.failures_kept - self.failures_stored))
        summary.pages += 1
        summary.created += tally.created
        summary.updated += tally.updated
        summary.archived += tally.archived
        summary.failed += tally.failed
        summary.unchanged += tally.unchanged
        summary.skipped += tally.skipped
        if self.progress is not None:
            self.progress(summary)
        await _call(self.hooks.after_commit, page_no)

    async def _write_items(self, c: AsyncConnection, src: Row[Any], page: _Prepared, harvest: int | None) -> _PageTally:
        tally = _PageTally(failed=len(page.failures), skipped=page.superseded, failures=list(page.failures))
        fresh = page.fresh
        stored: dict[tuple[str, str], int] = {}
        if fresh and self._prior_state:
            rows = await c.execute(
                text(
                    "SELECT f.kind, f.item_id, f.modified FROM catalog_feed_items f"
                    " JOIN unnest(CAST(:k AS text[]), CAST(:i AS text[])) AS u(kind, item_id)"
                    " ON f.kind = u.kind AND f.item_id = u.item_id WHERE f.source_id = :s"
                ),
                {"k": [i.kind for i in fresh], "i": [i.id for i in fresh], "s": self.source_id},
            )
            stored = {(r.kind, r.item_id): int(r.modified) for r in rows}
        upserts: list[ProgramWithGroups] = []
        checked: list[Checked | BatchResult] = []
        upsert_items: list[FeedItem] = []
        archives: list[FeedItem] = []
        seen_only: list[FeedItem] = []
        for item in fresh:
            previous = stored.get((item.kind, item.id))
            if previous is not None and item.modified < previous:
                tally.skipped += 1
                seen_only.append(item)
            elif item.state == "deleted":
                archives.append(item)
            elif item.id in page.refused:
                tally.failed += 1
                tally.failures.append(_failure(item.id, item.kind, page.refused[item.id]))
                seen_only.append(item)
            else:
                upserts.append(page.mapped[item.id])
                if self.options.batch:
                    checked.append(page.checked[item.id])
                upsert_items.append(item)
        upserted, archived = await writer.apply_page_items(
            c,
            src.provider_id,
            upserts,
            [a.id for a in archives],
            batch=self.options.batch,
            checked=checked if self.options.batch else None,
        )
        applied: list[FeedItem] = []
        for item, outcome in zip(upsert_items, upserted, strict=True):
            if outcome.outcome is writer.Outcome.FAILED:
                tally.failed += 1
                tally.failures.append(_failure(item.id, item.kind, outcome.problems))
                seen_only.append(item)
                continue
            applied.append(item)
            if outcome.outcome is writer.Outcome.CREATED:
                tally.created += 1
            elif outcome.outcome is writer.Outcome.UPDATED:
                tally.updated += 1
            else:
                tally.unchanged += 1
        for item, outcome in zip(archives, archived, strict=True):
            applied.append(item)
            if outcome.outcome is writer.Outcome.ARCHIVED:
                tally.archived += 1
            else:
                tally.unchanged += 1
        if applied:
            await c.execute(
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
                    "s": self.source_id,
                    "h": harvest,
                    "k": [i.kind for i in applied],
                    "i": [i.id for i in applied],
                    "m": [i.modified for i in applied],
                    "d": [i.state == "deleted" for i in applied],
                },
            )
        if seen_only and harvest is not None:
            await c.execute(
                text(
                    "UPDATE catalog_feed_items f SET harvest_run_id = :h FROM unnest(CAST(:k AS text[]),"
                    " CAST(:i AS text[])) AS u(kind, item_id) WHERE f.source_id = :s AND f.kind = u.kind"
                    " AND f.item_id = u.item_id"
                ),
                {"s": self.source_id, "h": harvest, "k": [i.kind for i in seen_only], "i": [i.id for i in seen_only]},
            )
        return tally

    async def _end_of_feed(self, src: Row[Any], url: str, harvest: int | None) -> None:
        summary = self.summary
        assert summary is not None

        async def work(c: AsyncConnection) -> int:
            gone = 0
            if harvest is not None:
                unseen = list(
                    (
                        await c.execute(
                            text(
                                "UPDATE catalog_feed_items SET deleted = true WHERE source_id = :s AND NOT deleted"
                                " AND harvest_run_id IS DISTINCT FROM :h RETURNING item_id"
                            ),
                            {"s": self.source_id, "h": harvest},
                        )
                    ).scalars()
                )
                gone = len(await catalog_batch.archive_programs(c, src.provider_id, sorted(set(unseen))))
            await c.execute(
                text(
                    "UPDATE catalog_sources SET cursor = :cursor, caught_up_at = now(), harvest_run_id = NULL"
                    " WHERE id = :id"
                ),
                {"cursor": url, "id": self.source_id},
            )
            await c.execute(
                text("UPDATE catalog_sync_runs SET pages = pages + 1, archived = archived + :n WHERE id = :id"),
                {"n": gone, "id": summary.run_id},
            )
            return gone

        gone = await run_transaction(self.conn, work)
        await self.conn.commit()
        summary.pages += 1
        summary.archived += gone
        if harvest is not None and gone:
            self.events.add("sync_event_harvest_archived", count=gone)
        if self.progress is not None:
            self.progress(summary)


async def run_source(
    engine: AsyncEngine,
    source_id: int,
    *,
    settings: Settings,
    options: SyncOptions | None = None,
    tokens: TokenCache | None = None,
    trigger: str = "MANUAL",
    from_start: bool = False,
    progress: Callable[[RunSummary], None] | None = None,
    hooks: RunHooks | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    on_finish: Callable[[RunSummary], None] | None = None,
) -> RunSummary:
    """Run one source now; raises SyncBusy when it is already running, SourceNotFound when absent."""
    options = options or SyncOptions.from_settings(settings)
    async with engine.connect() as conn:
        key = {"cls": LOCK_CLASS, "key": lock_key(source_id)}
        locked = (await conn.execute(text("SELECT pg_try_advisory_lock(:cls, :key)"), key)).scalar()
        await conn.commit()
        if not locked:
            raise SyncBusy(source_id)
        released = False
        try:
            run = _Run(
                conn,
                source_id,
                settings,
                options,
                tokens or PROCESS_TOKENS,
                trigger,
                from_start,
                progress,
                hooks or RunHooks(),
                transport,
            )
            summary = await run.execute()
            if on_finish is not None:
                on_finish(summary)
            return summary
        finally:
            try:
                if conn.in_transaction():
                    await conn.rollback()
                await conn.execute(text("SELECT pg_advisory_unlock(:cls, :key)"), key)
                await conn.commit()
                released = True
            finally:
                if not released:
                    await conn.invalidate()  # closing the session releases its advisory locks


# --- running sources on their intervals ------------------------------------------------------


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


def with_budget(options: SyncOptions, seconds: float) -> SyncOptions:
    return replace(options, time_budget=seconds)
