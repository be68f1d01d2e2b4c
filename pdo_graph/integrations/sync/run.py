"""The life of one run of one catalog source, recorded in ``catalog_sync_runs``.

A run holds a session-level advisory lock on its own connection for its whole life (one run per
source at a time, across processes), then reads the feed page by page: pages are fetched and made
ready (pages.py, in a thread) up to ``prefetch`` pages ahead while earlier ones are written. Each
page is one transaction: its upserts and archives (the catalog's one write path), the per-item feed
state, the source's cursor (the feed's ``next``) and position, and the run's counters commit
together, so a crash between (or inside) pages loses nothing and repeats nothing: the next run
resumes at the stored cursor. A run left ``RUNNING`` by a crashed process is marked FAILED
(interrupted) by the next run of its source.

Statuses: SUCCEEDED (the end of the feed reached, no item refused), PARTIAL (some items refused, or the
time budget ran out: the next run continues), FAILED (the feed could not be read on: auth, HTTP,
retries exhausted, a malformed page, a feed breaking the RPDE ordering; the pages before stay
committed).

Full re-harvest: the first run of a source, ``from_start``, or a source that has not reached the end
of its feed for longer than publishers keep tombstones (7 days) reads the feed from its start; when
it reaches the end, the programs of items it no longer saw are archived.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.config import Settings
from pdo_graph.db.session import run_transaction
from pdo_graph.domain import catalog
from pdo_graph.integrations.feeds import MappingContext
from pdo_graph.integrations.fetch import BudgetExhausted, EventLog, FeedError, FeedFetcher, RetryPolicy
from pdo_graph.integrations.oidc_client import PROCESS_TOKENS, ClientConfig, TokenCache
from pdo_graph.integrations.secrets import SecretUnreadable, open_secret
from pdo_graph.integrations.source_rules import same_origin
from pdo_graph.integrations.sync import rpde, store
from pdo_graph.integrations.sync.messages import render_message
from pdo_graph.integrations.sync.pages import Prepared, prepare_page, write_page
from pdo_graph.integrations.sync.rpde import PageError
from pdo_graph.integrations.sync.store import SyncSource

log = logging.getLogger(__name__)

RUNNING, SUCCEEDED, PARTIAL, FAILED = "RUNNING", "SUCCEEDED", "PARTIAL", "FAILED"


@dataclass(frozen=True)
class SyncOptions:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    time_budget: float = 600.0  # seconds per run
    max_items_per_page: int = 5000
    tombstone_days: float = 7.0  # publishers keep deletions at least this long
    failures_kept: int = 200  # failures stored per run (all are counted)
    prefetch: int = 1  # pages fetched and made ready ahead of the one being written

    @classmethod
    def from_settings(cls, settings: Settings, budget: float | None = None) -> SyncOptions:
        retry = RetryPolicy(request_timeout=settings.sync_request_timeout)
        return cls(retry=retry, time_budget=budget if budget is not None else settings.sync_time_budget_seconds)


def with_budget(options: SyncOptions, seconds: float) -> SyncOptions:
    return replace(options, time_budget=seconds)


class SyncBusy(Exception):
    """Another run of this source holds its lock."""


class SourceNotFound(Exception):
    """No source with this id."""


@dataclass
class RunSummary(store.Counts):
    """Where a run stands (passed to progress callbacks) and how it ended."""

    run_id: int = 0
    source_id: int = 0
    status: str = RUNNING
    pages: int = 0
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
class _End:
    url: str


class _Run:
    def __init__(
        self, conn: AsyncConnection, source_id: int, settings: Settings, options: SyncOptions, **how: Any
    ) -> None:
        self.conn = conn
        self.source_id = source_id
        self.settings = settings
        self.options = options
        self.tokens: TokenCache = how["tokens"]
        self.progress: Callable[[RunSummary], None] | None = how["progress"]
        self.hooks: RunHooks = how["hooks"]
        self.transport: httpx.AsyncBaseTransport | None = how["transport"]
        self.events = EventLog()
        self.failures_stored = 0
        self.position_id: str | None = None
        # Whether the source had feed state when the run began: if not, nothing this run reads can be
        # stale (`modified` never goes back within a run), and the per-page lookup is skipped.
        self.prior_state = True
        self.summary = RunSummary(source_id=source_id)

    async def execute(self, trigger: str, from_start: bool) -> RunSummary:
        src = await self._begin(trigger, from_start)
        summary = self.summary
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
                await self._finish(FAILED, "sync_cancelled", {})
            raise
        except Exception:
            log.exception("catalog sync of source %s failed", self.source_id)
            status, key, params = FAILED, "sync_internal_error", {}
        if status == SUCCEEDED and summary.failed:
            status, key, params = PARTIAL, "sync_items_refused", {"count": summary.failed}
        await self._finish(status, key, params)
        return summary

    async def _begin(self, trigger: str, from_start: bool) -> SyncSource:
        async def begin(c: AsyncConnection) -> tuple[SyncSource, int, bool]:
            src = await store.source(c, self.source_id)
            if src is None:
                raise SourceNotFound(self.source_id)
            await store.fail_interrupted(c, self.source_id)
            stale = datetime.now(UTC) - timedelta(days=self.options.tombstone_days)
            outage = src.caught_up_at is not None and src.caught_up_at < stale
            new_harvest = from_start or (src.harvest_run_id is None and (src.cursor is None or outage))
            run_id = await store.insert_run(c, self.source_id, trigger, new_harvest or src.harvest_run_id is not None)
            if new_harvest:
                await store.start_harvest(c, self.source_id, run_id)
                src = await store.source(c, self.source_id)
            assert src is not None
            return src, run_id, outage and new_harvest and not from_start

        src, run_id, outage = await run_transaction(self.conn, begin)
        self.prior_state = await store.has_feed_state(self.conn, self.source_id)
        await self.conn.commit()  # no transaction stays open while the feed is read
        self.summary.run_id, self.summary.full_harvest = run_id, src.harvest_run_id is not None
        if outage:
            self.events.add("sync_event_outage_reharvest", days=self.options.tombstone_days)
        elif self.summary.full_harvest:
            self.events.add("sync_event_full_harvest")
        return src

    async def _finish(self, status: str, key: str | None, params: dict[str, Any]) -> None:
        summary = self.summary
        summary.status, summary.message_key, summary.message_params = status, key, params
        summary.finished = time.monotonic()
        if self.events.dropped:
            self.events.events.append(
                {"at": None, "key": "sync_event_dropped", "params": {"count": self.events.dropped}}
            )
            self.events.dropped = 0
        message = (key, params, summary.message("ru"))
        soon = key == "sync_budget_exhausted"
        if self.conn.in_transaction():
            await self.conn.rollback()
        await run_transaction(
            self.conn,
            lambda c: store.finish_run(c, self.source_id, summary.run_id, status, message, self.events.events, soon),
        )
        await self.conn.commit()

    # -- reading the feed ----------------------------------------------------------------------

    async def _read_feed(self, src: SyncSource) -> None:
        """Pages are fetched and made ready by a producer task while earlier pages are written here:
        each page still commits alone and in order."""
        config = ClientConfig(
            issuer=src.issuer,
            client_id=src.client_id,
            auth_method=src.client_auth,
            secret=open_secret(self.settings, src.secret_encrypted),
            resource=src.audience,
            scope=src.scope,
        )
        activities = {str(m["activity"]).lower(): str(m["direction"]) for m in src.activity_directions or []}
        mapping = MappingContext(src.provider_inn, src.provider_municipality, src.default_direction, activities)
        deadline = self.summary.started + self.options.time_budget
        self.position_id = src.position_id
        queue: asyncio.Queue[Prepared | _End | BaseException] = asyncio.Queue()
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
                        await self._end_of_feed(src, entry.url)
                        return
                    await self._apply(src, entry)
                    slots.release()
                    if entry.items and entry.next_url == entry.url:
                        raise PageError("sync_page_next_is_self")
            finally:
                producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)

    async def _produce(
        self,
        src: SyncSource,
        fetcher: FeedFetcher,
        mapping: MappingContext,
        queue: asyncio.Queue[Prepared | _End | BaseException],
        slots: asyncio.Semaphore,
    ) -> None:
        url: str = src.cursor or src.feed_url
        position: rpde.Position = (src.position_modified, {src.position_id} if src.position_id is not None else set())
        empty_seen: set[str] = set()
        try:
            while True:
                await slots.acquire()
                if fetcher.remaining() <= 0:
                    raise BudgetExhausted()
                body = await fetcher.get_json(url)
                args = (body, url, src.format, mapping, self.options.max_items_per_page)
                page = await asyncio.to_thread(prepare_page, *args)
                if not same_origin(page.next_url, src.feed_url):
                    raise PageError("sync_page_foreign_next")
                step = rpde.step(url, page.items, page.next_url, empty_seen)
                if step == "end":
                    queue.put_nowait(_End(url))
                    return
                page.position = position = rpde.check_order(page.items, position)
                queue.put_nowait(page)
                if step == "stop":
                    return
                url = page.next_url
        except Exception as exc:  # handed to the writer, which raises it after the pages before
            queue.put_nowait(exc)

    async def _apply(self, src: SyncSource, page: Prepared) -> None:
        summary = self.summary
        page_no = summary.pages + 1
        modified = page.position[0]
        position = (modified, rpde.position_id(page.items, modified, self.position_id))

        async def work(c: AsyncConnection) -> store.Tally:
            await store.synchronous_commit_off(c)  # the page and its cursor commit together
            stored = self.prior_state  # without prior feed state nothing this run reads can be stale
            tally = await write_page(c, self.source_id, src.provider_id, src.format, src.harvest_run_id, page, stored)
            room = max(0, self.options.failures_kept - self.failures_stored)
            failures = tally.failures[:room]
            await store.commit_page(
                c, self.source_id, summary.run_id, page.next_url, position, tally, failures, self.events.events
            )
            await _call(self.hooks.before_commit, page_no)
            return tally

        tally = await run_transaction(self.conn, work)
        await self.conn.commit()
        self.position_id = position[1]
        self.failures_stored += min(len(tally.failures), max(0, self.options.failures_kept - self.failures_stored))
        summary.pages += 1
        summary.add(tally)
        if self.progress is not None:
            self.progress(summary)
        await _call(self.hooks.after_commit, page_no)

    async def _end_of_feed(self, src: SyncSource, url: str) -> None:
        summary = self.summary
        harvest: int | None = src.harvest_run_id

        async def work(c: AsyncConnection) -> int:
            gone = 0
            if harvest is not None:
                unseen = await store.unseen_in_harvest(c, self.source_id, harvest)
                gone = len(await catalog.archive_programs(c, src.provider_id, unseen))
            await store.caught_up(c, self.source_id, summary.run_id, url, gone)
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
        locked = await store.try_lock(conn, source_id)
        await conn.commit()
        if not locked:
            raise SyncBusy(source_id)
        released = False
        try:
            how = {
                "tokens": tokens or PROCESS_TOKENS,
                "progress": progress,
                "hooks": hooks or RunHooks(),
                "transport": transport,
            }
            summary = await _Run(conn, source_id, settings, options, **how).execute(trigger, from_start)
            if on_finish is not None:
                on_finish(summary)
            return summary
        finally:
            try:
                if conn.in_transaction():
                    await conn.rollback()
                await store.unlock(conn, source_id)
                await conn.commit()
                released = True
            finally:
                if not released:
                    await conn.invalidate()  # closing the session releases its advisory locks
