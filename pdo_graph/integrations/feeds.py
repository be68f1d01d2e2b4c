"""Feed readers: RPDE pages, and items of the two formats mapped to catalog programs with groups.

RPDE (OpenActive's Realtime Paged Data Exchange): a page is ``{"items": [...], "next": URL}``;
an item is ``{"id", "state": "updated"|"deleted", "kind", "modified": integer, "data"?}``. Items are
ordered by (modified, id); the last page has no items and its ``next`` is its own URL.

Formats:

- ``PDO_CATALOG_V1`` (``pdo-catalog/1``, docs/pdo-catalog-v1.schema.json): ``kind`` ``program``;
  ``data`` is a program with all its current groups (prices in kopecks, directions as enum values
  or their Russian names). A group missing from an updated program is archived.
- ``OPENACTIVE_RPDE``: ``CourseInstance`` and ``SessionSeries`` items. Each becomes one program
  (external id = the item id) with one group (the same id): name / description (or those of
  ``instanceOfCourse`` / ``superEvent``), ``ageRange`` (clamped to 0..18), the lowest RUB offer price
  (a JSON float converted exactly: ``Decimal(str(price)) * 100`` must be whole), ``startDate`` /
  ``endDate`` (or the first ``eventSchedule``), ``maximumAttendeeCapacity``, and the direction from
  the source's activity map, else the source's default, else PHYSICAL_SPORTS.

Mapping refusals are :class:`ItemRefused` with :class:`~pdo_graph.domain.errors.Problem` s whose field
paths start at the item (``["data", "groups", "G-1", "capacity"]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pdo_graph.db.tables import DIRECTIONS
from pdo_graph.domain.catalog import GroupData, ProgramData
from pdo_graph.domain.errors import ErrorCode, Problem

FORMATS = ("PDO_CATALOG_V1", "OPENACTIVE_RPDE")
PDO_KINDS = frozenset({"program"})
OPENACTIVE_KINDS = frozenset({"CourseInstance", "SessionSeries"})
MAX_ID_LENGTH = 200
MAX_MODIFIED = 2**63 - 1
MAX_GROUPS = 200
DEFAULT_OPENACTIVE_DIRECTION = "PHYSICAL_SPORTS"

# The six directions (Приказ Минпросвещения № 196) by their Russian names, and older names still seen.
RUSSIAN_DIRECTIONS: dict[str, str] = {
    "техническая": "TECHNICAL",
    "естественнонаучная": "NATURAL_SCIENCE",
    "естественно-научная": "NATURAL_SCIENCE",
    "физкультурно-спортивная": "PHYSICAL_SPORTS",
    "художественная": "ARTS",
    "туристско-краеведческая": "TOURISM_LOCAL_HISTORY",
    "социально-гуманитарная": "SOCIAL_HUMANITARIAN",
    "социально-педагогическая": "SOCIAL_HUMANITARIAN",
}


class PageError(Exception):
    """The page as a whole is unusable (the run stops): ``key`` / ``params`` say why."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class ItemRefused(Exception):
    """One item cannot be applied; it is recorded with these problems and skipped."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(", ".join(repr(p) for p in problems))
        self.problems = list(problems)


def refused(key: str, field: Sequence[str] | None = None, /, **params: object) -> ItemRefused:
    return ItemRefused(Problem(ErrorCode.INVALID, key, field, **params))


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
    next_url: str


@dataclass(frozen=True, slots=True)
class MappedProgram:
    """A feed item as the catalog domain takes it."""

    program: ProgramData
    groups: tuple[GroupData, ...]


@dataclass(frozen=True, slots=True)
class MappingContext:
    """What a source knows beyond its items: whose feed it is and how to pick directions."""

    provider_inn: str
    municipality: str
    default_direction: str | None = None
    activity_directions: Mapping[str, str] | None = None  # activity label or URI (lower case) -> direction


def _item_id(raw: Any) -> str | None:
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


def parse_page(body: Any, max_items: int) -> Page:
    """Check the page structure and each item's envelope; raises PageError for a broken page."""
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
    parsed: list[FeedItem | BadEnvelope] = []
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            parsed.append(BadEnvelope(f"#{index}", "", None, Problem(ErrorCode.INVALID, "sync_item_not_object")))
            continue
        item_id = _item_id(raw.get("id"))
        kind = raw.get("kind")
        kind = kind if isinstance(kind, str) and 0 < len(kind) <= 100 else ""
        modified = _modified(raw.get("modified"))
        state = raw.get("state")
        if item_id is None:
            problem = Problem(ErrorCode.INVALID, "sync_item_bad_id", ["id"], max=MAX_ID_LENGTH)
            parsed.append(BadEnvelope(f"#{index}", kind, modified, problem))
        elif modified is None:
            parsed.append(BadEnvelope(item_id, kind, None, Problem(ErrorCode.INVALID, "sync_item_bad_modified")))
        elif state not in ("updated", "deleted"):
            parsed.append(BadEnvelope(item_id, kind, modified, Problem(ErrorCode.INVALID, "sync_item_bad_state")))
        elif not kind:
            parsed.append(BadEnvelope(item_id, kind, modified, Problem(ErrorCode.INVALID, "sync_item_bad_kind")))
        elif state == "updated" and not isinstance(raw.get("data"), dict):
            parsed.append(BadEnvelope(item_id, kind, modified, Problem(ErrorCode.INVALID, "sync_item_no_data")))
        else:
            parsed.append(FeedItem(item_id, kind, state, modified, raw.get("data")))
    return Page(parsed, next_url.strip())


def known_kinds(format_: str) -> frozenset[str]:
    return PDO_KINDS if format_ == "PDO_CATALOG_V1" else OPENACTIVE_KINDS


def map_item(format_: str, item: FeedItem, ctx: MappingContext) -> MappedProgram:
    """The program (with groups) an ``updated`` item describes; raises ItemRefused."""
    if item.kind not in known_kinds(format_):
        raise refused("sync_item_unknown_kind", ["kind"], kind=item.kind[:40])
    if format_ == "PDO_CATALOG_V1":
        return map_pdo_catalog(item, ctx)
    return map_openactive(item, ctx)


# --- field readers -------------------------------------------------------------------------------


class _Reader:
    """Typed access to one JSON object, collecting problems with field paths."""

    def __init__(self, data: Mapping[str, Any], at: list[str]) -> None:
        self.data = data
        self.at = at
        self.problems: list[Problem] = []

    def bad(self, name: str, key: str, **params: object) -> None:
        self.problems.append(Problem(ErrorCode.INVALID, key, [*self.at, name], **params))

    def text(self, name: str, required: bool = True) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.bad(name, "sync_field_missing", field=name)
            return None
        if not isinstance(value, str):
            self.bad(name, "sync_field_type", field=name, type="string")
            return None
        return value

    def integer(self, name: str, required: bool = True) -> int | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.bad(name, "sync_field_missing", field=name)
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(name, "sync_field_type", field=name, type="integer")
            return None
        return value

    def number(self, name: str) -> float | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(name, "sync_field_type", field=name, type="number")
            return None
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.bad(name, "sync_field_type", field=name, type="boolean")
            return default
        return value

    def day(self, name: str) -> date | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.bad(name, "sync_field_date", field=name)
            return None


def direction_of(label: str) -> str | None:
    """An enum value or a Russian name of a direction (any case), else None."""
    cleaned = " ".join(label.split())
    if cleaned.upper() in DIRECTIONS:
        return cleaned.upper()
    return RUSSIAN_DIRECTIONS.get(cleaned.lower())


# Exact spellings met in feeds (enum values, Russian names in lower case and capitalised).
DIRECTIONS_BY_LABEL: dict[str, str] = {
    **{d: d for d in DIRECTIONS},
    **RUSSIAN_DIRECTIONS,
    **{name.capitalize(): d for name, d in RUSSIAN_DIRECTIONS.items()},
}


# --- pdo-catalog/1 -------------------------------------------------------------------------------


_PROGRAM_KEYS = frozenset(
    {
        "title", "description", "direction", "minAge", "maxAge", "municipality", "providerInn", "hours", "form",
        "address", "latitude", "longitude", "normativeCost", "groups",
    }
)  # fmt: skip
_GROUP_KEYS = frozenset({"id", "name", "startsOn", "endsOn", "capacity", "price", "enrollmentOpen", "schedule"})


class _Slow(Exception):
    """The fast path met something unusual: the careful path decides and explains."""


def _s(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _Slow


def _i(value: Any) -> int | None:
    if value is None or type(value) is int:
        return value
    raise _Slow


def _f(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) is float or type(value) is int:
        return float(value)
    raise _Slow


def _fast_pdo(item: FeedItem, ctx: MappingContext) -> MappedProgram:
    """pdo-catalog/1 items as well-formed feeds send them, mapped without collecting problems."""
    data = item.data
    inn = data.get("providerInn")
    if inn is not None and inn != ctx.provider_inn:
        raise _Slow
    direction = DIRECTIONS_BY_LABEL.get(data["direction"])
    raw_groups = data["groups"]
    if direction is None or type(raw_groups) is not list or len(raw_groups) > MAX_GROUPS:
        raise _Slow
    groups = []
    seen = set()
    for raw in raw_groups:
        gid = raw["id"]
        if type(gid) is not str or not 0 < len(gid) <= MAX_ID_LENGTH or gid != gid.strip() or gid in seen:
            raise _Slow
        seen.add(gid)
        name, capacity, price = raw["name"], raw["capacity"], raw["price"]
        if type(name) is not str or type(capacity) is not int or type(price) is not int:
            raise _Slow
        enrollment_open = raw.get("enrollmentOpen", True)
        if type(enrollment_open) is not bool:
            raise _Slow
        groups.append(
            GroupData(
                name=name,
                starts_on=date.fromisoformat(raw["startsOn"]),
                ends_on=date.fromisoformat(raw["endsOn"]),
                capacity=capacity,
                price=price,
                enrollment_open=enrollment_open,
                schedule=_s(raw.get("schedule")),
                external_id=gid,
            )
        )
    title, description, min_age, max_age = data["title"], data["description"], data["minAge"], data["maxAge"]
    if type(title) is not str or type(description) is not str or type(min_age) is not int or type(max_age) is not int:
        raise _Slow
    program = ProgramData(
        title=title,
        description=description,
        direction=direction,
        min_age=min_age,
        max_age=max_age,
        municipality=_s(data.get("municipality")) or ctx.municipality,
        normative_cost=_i(data.get("normativeCost")),
        hours=_i(data.get("hours")),
        form=_s(data.get("form")) or "очная",
        address=_s(data.get("address")),
        latitude=_f(data.get("latitude")),
        longitude=_f(data.get("longitude")),
        external_id=item.id,
    )
    return MappedProgram(program, tuple(groups))


def map_pdo_catalog(item: FeedItem, ctx: MappingContext) -> MappedProgram:
    try:
        return _fast_pdo(item, ctx)
    except (_Slow, KeyError, TypeError, ValueError, AttributeError):
        return _careful_pdo(item, ctx)


def _careful_pdo(item: FeedItem, ctx: MappingContext) -> MappedProgram:
    data = item.data
    r = _Reader(data, ["data"])
    inn = r.text("providerInn", required=False)
    if inn is not None and inn.strip() != ctx.provider_inn:
        raise ItemRefused(Problem(ErrorCode.FORBIDDEN, "sync_item_foreign_provider", ["data", "providerInn"]))
    title = r.text("title")
    description = r.text("description")
    direction_label = r.text("direction")
    direction = None
    if direction_label is not None:
        direction = direction_of(direction_label)
        if direction is None:
            r.bad("direction", "catalog_direction_unknown")
    min_age = r.integer("minAge")
    max_age = r.integer("maxAge")
    municipality = r.text("municipality", required=False) or ctx.municipality
    hours = r.integer("hours", required=False)
    form = r.text("form", required=False)
    address = r.text("address", required=False)
    latitude = r.number("latitude")
    longitude = r.number("longitude")
    normative_cost = r.integer("normativeCost", required=False)
    raw_groups = data.get("groups")
    groups: list[GroupData] = []
    if not isinstance(raw_groups, list):
        r.bad(
            "groups",
            "sync_field_type" if raw_groups is not None else "sync_field_missing",
            field="groups",
            type="array",
        )
    elif len(raw_groups) > MAX_GROUPS:
        r.bad("groups", "sync_too_many_groups", max=MAX_GROUPS)
    else:
        seen: set[str] = set()
        for index, raw in enumerate(raw_groups):
            gid = _item_id(raw.get("id")) if isinstance(raw, dict) else None
            at = ["data", "groups", gid or str(index)]
            if not isinstance(raw, dict) or gid is None:
                r.problems.append(Problem(ErrorCode.INVALID, "sync_item_bad_id", [*at, "id"], max=MAX_ID_LENGTH))
                continue
            if gid in seen:
                r.problems.append(Problem(ErrorCode.DUPLICATE, "sync_group_duplicate", [*at, "id"]))
                continue
            seen.add(gid)
            g = _Reader(raw, at)
            name = g.text("name")
            starts_on = g.day("startsOn")
            ends_on = g.day("endsOn")
            capacity = g.integer("capacity")
            price = g.integer("price")
            enrollment_open = g.boolean("enrollmentOpen", True)
            schedule = g.text("schedule", required=False)
            r.problems.extend(g.problems)
            if g.problems:
                continue
            assert name is not None and starts_on is not None and ends_on is not None
            assert capacity is not None and price is not None
            groups.append(
                GroupData(
                    name=name,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    capacity=capacity,
                    price=price,
                    enrollment_open=enrollment_open,
                    schedule=schedule,
                    external_id=gid,
                )
            )
    if r.problems:
        raise ItemRefused(*r.problems)
    assert title is not None and description is not None and direction is not None
    assert min_age is not None and max_age is not None
    program = ProgramData(
        title=title,
        description=description,
        direction=direction,
        min_age=min_age,
        max_age=max_age,
        municipality=municipality,
        normative_cost=normative_cost,
        hours=hours,
        form=form or "очная",
        address=address,
        latitude=latitude,
        longitude=longitude,
        external_id=item.id,
    )
    return MappedProgram(program, tuple(groups))


# --- OpenActive ----------------------------------------------------------------------------------


def _first_text(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _event_day(value: Any) -> date | None:
    """The local date of an ISO-8601 date or date-time, as written (in its own offset)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def kopecks_of(price: Any) -> int | None:
    """An OpenActive price (a JSON number, or a decimal string) in kopecks, exactly; None if not exact."""
    if isinstance(price, bool) or not isinstance(price, int | float | str):
        return None
    try:
        amount = Decimal(str(price).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    kopecks = amount * 100
    if kopecks != kopecks.to_integral_value():
        return None
    return int(kopecks)


def _offers_price(data: Mapping[str, Any]) -> tuple[int | None, Problem | None]:
    offers = data.get("offers")
    if isinstance(offers, dict):
        offers = [offers]
    if not isinstance(offers, list) or not offers:
        return None, Problem(ErrorCode.INVALID, "sync_oa_no_offer", ["data", "offers"])
    prices: list[int] = []
    for index, offer in enumerate(offers):
        if not isinstance(offer, dict):
            continue
        currency = offer.get("priceCurrency")
        if currency not in (None, "RUB", "RUR"):
            continue
        kopecks = kopecks_of(offer.get("price"))
        if kopecks is None:
            return None, Problem(ErrorCode.INVALID, "sync_oa_price_inexact", ["data", "offers", str(index), "price"])
        prices.append(kopecks)
    if not prices:
        return None, Problem(ErrorCode.INVALID, "sync_oa_no_rub_offer", ["data", "offers"])
    return min(prices), None


def _activity_direction(data: Mapping[str, Any], ctx: MappingContext) -> str:
    mapping = ctx.activity_directions or {}
    activities = data.get("activity")
    if isinstance(activities, dict | str):
        activities = [activities]
    if mapping and isinstance(activities, list):
        for activity in activities:
            labels: list[str] = []
            if isinstance(activity, str):
                labels.append(activity)
            elif isinstance(activity, dict):
                labels += [
                    v
                    for v in (activity.get("prefLabel"), activity.get("@id"), activity.get("id"))
                    if isinstance(v, str)
                ]
            for label in labels:
                found = mapping.get(" ".join(label.split()).lower())
                if found is not None:
                    return found
    return ctx.default_direction or DEFAULT_OPENACTIVE_DIRECTION


_INN = re.compile(r"^\d{10}(\d{2})?$")


def map_openactive(item: FeedItem, ctx: MappingContext) -> MappedProgram:
    data = item.data
    problems: list[Problem] = []
    organizer = data.get("organizer")
    if isinstance(organizer, dict):
        tax_id = organizer.get("taxID") or organizer.get("vatID")
        if isinstance(tax_id, str) and _INN.match(tax_id.strip()) and tax_id.strip() != ctx.provider_inn:
            raise ItemRefused(Problem(ErrorCode.FORBIDDEN, "sync_item_foreign_provider", ["data", "organizer"]))
    parent = data.get("instanceOfCourse") or data.get("superEvent")
    parent = parent if isinstance(parent, dict) else {}
    title = _first_text(data.get("name"), parent.get("name"))
    if title is None:
        problems.append(Problem(ErrorCode.INVALID, "sync_field_missing", ["data", "name"], field="name"))
    description = _first_text(data.get("description"), parent.get("description")) or title or ""
    min_age, max_age = 0, 18
    age_range = data.get("ageRange")
    if isinstance(age_range, dict):
        lo, hi = age_range.get("minValue"), age_range.get("maxValue")
        if isinstance(lo, int) and not isinstance(lo, bool):
            min_age = max(0, lo)
        if isinstance(hi, int) and not isinstance(hi, bool):
            max_age = min(18, hi)
    if min_age > 18 or max_age < 0 or min_age > max_age:
        problems.append(Problem(ErrorCode.INVALID, "sync_oa_age_outside", ["data", "ageRange"]))
    price, price_problem = _offers_price(data)
    if price_problem is not None:
        problems.append(price_problem)
    starts_on = _event_day(data.get("startDate"))
    ends_on = _event_day(data.get("endDate"))
    schedules = data.get("eventSchedule")
    if (starts_on is None or ends_on is None) and isinstance(schedules, list) and schedules:
        first = schedules[0] if isinstance(schedules[0], dict) else {}
        starts_on = starts_on or _event_day(first.get("startDate"))
        ends_on = ends_on or _event_day(first.get("endDate"))
    if starts_on is None or ends_on is None:
        problems.append(Problem(ErrorCode.INVALID, "sync_oa_no_dates", ["data", "startDate"]))
    capacity = data.get("maximumAttendeeCapacity")
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        problems.append(Problem(ErrorCode.INVALID, "sync_oa_no_capacity", ["data", "maximumAttendeeCapacity"]))
    if problems:
        raise ItemRefused(*problems)
    assert title is not None and price is not None and starts_on is not None and ends_on is not None
    assert isinstance(capacity, int)
    program = ProgramData(
        title=title,
        description=description,
        direction=_activity_direction(data, ctx),
        min_age=min_age,
        max_age=max_age,
        municipality=ctx.municipality,
        external_id=item.id,
    )
    group = GroupData(
        name=title[:200],
        starts_on=starts_on,
        ends_on=ends_on,
        capacity=capacity,
        price=price,
        enrollment_open=data.get("eventStatus") not in ("https://schema.org/EventCancelled", "EventCancelled"),
        external_id=item.id,
    )
    return MappedProgram(program, (group,))
