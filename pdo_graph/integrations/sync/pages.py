"""A page of a feed: made ready with no database (``prepare_page``: its items' envelopes checked by
rpde.py, the newest entry of each id mapped by feeds.py and checked against the catalog's rules;
pure, so it runs in a thread ahead of the page being written), then written (``write_page``: the
catalog's one write path, the per-item feed state) inside the page's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.catalog import Checked, ItemResult, Outcome, ProgramItem, check_item, write_items
from pdo_graph.domain.errors import Problem
from pdo_graph.integrations.feeds import ItemRefused, MappingContext, known_kinds, map_item
from pdo_graph.integrations.sync import store
from pdo_graph.integrations.sync.messages import failure, in_feed_item
from pdo_graph.integrations.sync.rpde import BadEnvelope, FeedItem, Position, newest, parse_page


@dataclass
class Prepared:
    url: str
    next_url: str
    items: list[FeedItem | BadEnvelope]
    failures: list[dict[str, Any]]  # broken envelopes and unknown kinds
    superseded: int  # earlier entries of an id repeated later on the page
    fresh: list[FeedItem]  # the newest entry of each id, of a known kind
    mapped: dict[str, ProgramItem] = field(default_factory=dict)  # updated items that map to a program
    checked: dict[str, Checked | ItemResult] = field(default_factory=dict)  # the catalog's rules, per mapped item
    refused: dict[str, list[Problem]] = field(default_factory=dict)  # updated items that do not map
    position: Position = (None, set())


def prepare_page(body: Any, url: str, format_: str, mapping: MappingContext, max_items: int) -> Prepared:
    """Parse a page, map its items and check them against the catalog's rules."""
    parsed = parse_page(body, max_items, url)
    fresh, superseded, refused = newest(parsed.items, known_kinds(format_))
    page = Prepared(
        url=url,
        next_url=parsed.next_url,
        items=parsed.items,
        failures=[failure(item_id, kind, problems) for item_id, kind, problems in refused],
        superseded=superseded,
        fresh=fresh,
    )
    for item in fresh:
        if item.state != "updated":
            continue
        try:
            mapped = map_item(format_, item, mapping)
        except ItemRefused as exc:
            page.refused[item.id] = exc.problems
            continue
        page.mapped[item.id] = mapped
        page.checked[item.id] = check_item(mapped)
    return page


_COUNTED = {
    Outcome.CREATED: "created",
    Outcome.UPDATED: "updated",
    Outcome.UNCHANGED: "unchanged",
    Outcome.ARCHIVED: "archived",
    Outcome.REJECTED: "failed",
}


async def write_page(
    conn: AsyncConnection,
    source_id: int,
    provider_id: int,
    format_: str,
    harvest: int | None,
    page: Prepared,
    stored_state: bool,
) -> store.Tally:
    """Apply a page's newest entries: stale ones (older than what was applied, looked up when the
    source has ``stored_state``) are skipped, deleted ones archive their programs, the rest go through
    the catalog's write path; the feed state records what was applied and what a harvest saw."""
    tally = store.Tally(failed=len(page.failures), skipped=page.superseded, failures=list(page.failures))
    stored = await store.stored_modified(conn, source_id, page.fresh) if page.fresh and stored_state else {}
    upserts: list[FeedItem] = []
    archives: list[FeedItem] = []
    seen_only: list[FeedItem] = []
    for item in page.fresh:
        previous = stored.get((item.kind, item.id))
        if previous is not None and item.modified < previous:
            tally.skipped += 1
            seen_only.append(item)
        elif item.state == "deleted":
            archives.append(item)
        elif item.id in page.refused:
            tally.failed += 1
            tally.failures.append(failure(item.id, item.kind, page.refused[item.id]))
            seen_only.append(item)
        else:
            upserts.append(item)
    upserted, archived = await write_items(
        conn, provider_id, [page.checked[i.id] for i in upserts], [a.id for a in archives]
    )
    applied: list[FeedItem] = []
    for item, result in [*zip(upserts, upserted, strict=True), *zip(archives, archived, strict=True)]:
        counter = _COUNTED[result.outcome]
        setattr(tally, counter, getattr(tally, counter) + 1)
        if result.outcome is Outcome.REJECTED:
            problems = in_feed_item(result.problems, format_, page.mapped[item.id].groups)
            tally.failures.append(failure(item.id, item.kind, problems))
            seen_only.append(item)
        else:
            applied.append(item)
    if applied:
        await store.record_applied(conn, source_id, harvest, applied)
    if seen_only and harvest is not None:
        await store.record_seen(conn, source_id, harvest, seen_only)
    return tally
