"""RPDE (OpenActive's Realtime Paged Data Exchange) page rules, as pure functions.

A page is ``{"items": [...], "next": URL}``; an item is ``{"id", "state": "updated"|"deleted", "kind",
"modified": integer, "data"?}``. Items are ordered by (modified, id) across the whole feed; the last
page has no items and its ``next`` is its own URL. A reader keeps its position (the last ``modified``
and the ids seen at it) so that a feed going back, or repeating an item, is caught (the ``>=`` bug).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin

from pdo_graph.domain.errors import ErrorCode, Problem

MAX_ID_LENGTH = 200
MAX_MODIFIED = 2**63 - 1

Position = tuple[int | None, set[str]]  # the last `modified` read and the ids read at it


class PageError(Exception):
    """The page as a whole is unusable (the run stops): ``key`` / ``params`` say why."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class FeedItem:
    """An item envelope that passed the RPDE checks."""

    id: str
    kind: str
    state: str  # "updated" | "deleted"
    modified: int
    data: Any


@dataclass(frozen=True, slots=True)
class BadEnvelope:
    """An item whose envelope is broken: recorded as a failure, never applied."""

    id: str
    kind: str
    modified: int | None
    problem: Problem


@dataclass(frozen=True, slots=True)
class Page:
    items: list[FeedItem | BadEnvelope]
    next_url: str  # absolute (resolved against the page's own URL)


def item_id(raw: Any) -> str | None:
    """An RPDE id (a string of 1..200 characters once trimmed, or an integer), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, str) and 1 <= len(raw.strip()) <= MAX_ID_LENGTH:
        return raw.strip()
    return None


def _modified(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.isdigit() and len(raw) <= 19:
        value = int(raw)
    else:
        return None
    return value if 0 <= value <= MAX_MODIFIED else None


def _envelope(index: int, raw: Any) -> FeedItem | BadEnvelope:
    if not isinstance(raw, dict):
        return BadEnvelope(f"#{index}", "", None, Problem(ErrorCode.INVALID, "sync_item_not_object"))
    found = item_id(raw.get("id"))
    kind = raw.get("kind")
    kind = kind if isinstance(kind, str) and 0 < len(kind) <= 100 else ""
    modified = _modified(raw.get("modified"))
    state = raw.get("state")
    if found is None:
        return BadEnvelope(
            f"#{index}", kind, modified, Problem(ErrorCode.INVALID, "sync_item_bad_id", ["id"], max=MAX_ID_LENGTH)
        )
    if modified is None:
        return BadEnvelope(found, kind, None, Problem(ErrorCode.INVALID, "sync_item_bad_modified"))
    if state not in ("updated", "deleted"):
        return BadEnvelope(found, kind, modified, Problem(ErrorCode.INVALID, "sync_item_bad_state"))
    if not kind:
        return BadEnvelope(found, kind, modified, Problem(ErrorCode.INVALID, "sync_item_bad_kind"))
    if state == "updated" and not isinstance(raw.get("data"), dict):
        return BadEnvelope(found, kind, modified, Problem(ErrorCode.INVALID, "sync_item_no_data"))
    return FeedItem(found, kind, state, modified, raw.get("data"))


def parse_page(body: Any, max_items: int, url: str = "") -> Page:
    """Check the page structure and each item's envelope; raises PageError for a broken page.
    ``next`` is resolved against ``url``, the page's own address."""
    if not isinstance(body, dict):
        raise PageError("sync_page_not_object")
    items = body.get("items")
    next_url = body.get("next")
    if not isinstance(items, list):
        raise PageError("sync_page_no_items")
    if not isinstance(next_url, str) or not next_url.strip():
        raise PageError("sync_page_no_next")
    if len(items) > max_items:
        raise PageError("sync_page_too_many_items", count=len(items), max=max_items)
    return Page([_envelope(i, raw) for i, raw in enumerate(items)], urljoin(url, next_url.strip()))


Step = Literal["next", "end", "stop"]


def step(url: str, items: Sequence[object], next_url: str, empty_seen: set[str]) -> Step:
    """What follows a page read at ``url`` with these items and ``next``: "end" (the last page: no items
    and ``next`` is its own URL),
    "stop" (items, but ``next`` is the page itself: write them, then fail the run), or "next".

    Raises PageError for empty pages leading in a circle. ``empty_seen`` (the empty pages read since
    the last page with items) is updated. (That ``next`` stays on the feed's origin is the reader's
    check: ``sources.same_origin``.)"""
    if not items:
        if next_url == url:
            return "end"
        if url in empty_seen:
            raise PageError("sync_page_loop")
        empty_seen.add(url)
        return "next"
    empty_seen.clear()
    return "stop" if next_url == url else "next"


def check_order(items: Iterable[FeedItem | BadEnvelope], position: Position) -> Position:
    """The position after these items; PageError when they go back or repeat an item."""
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


def position_id(items: Sequence[FeedItem | BadEnvelope], modified: int | None, previous: str | None) -> str | None:
    """The id stored with the position: the page's last item at ``modified``, else the one before."""
    if modified is None:
        return None
    last = next((i.id for i in reversed(items) if i.modified is not None and i.modified == modified), None)
    return last if last is not None else previous


def newest(
    items: Iterable[FeedItem | BadEnvelope], kinds: frozenset[str]
) -> tuple[list[FeedItem], int, list[tuple[str, str, list[Problem]]]]:
    """The newest entry of each id of a known kind (a page may carry an id more than once), how many
    earlier entries they supersede, and the refusals (id, kind, problems) of broken envelopes and
    unknown kinds."""
    latest: dict[str, FeedItem] = {}
    superseded = 0
    refused: list[tuple[str, str, list[Problem]]] = []
    for item in items:
        if isinstance(item, BadEnvelope):
            refused.append((item.id, item.kind, [item.problem]))
        elif item.kind not in kinds:
            problem = Problem(ErrorCode.INVALID, "sync_item_unknown_kind", ["kind"], kind=item.kind[:40])
            refused.append((item.id, item.kind, [problem]))
        else:
            if item.id in latest:
                superseded += 1
            latest[item.id] = item
    return list(latest.values()), superseded, refused
