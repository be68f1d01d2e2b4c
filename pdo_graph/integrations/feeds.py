"""Feed formats: an ``updated`` feed item (an RPDE envelope, sync/rpde.py) mapped to the catalog's
:class:`~pdo_graph.domain.catalog.ProgramItem`, the program with all its groups.

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
from pdo_graph.domain.catalog import GroupData, ProgramData, ProgramItem
from pdo_graph.domain.errors import ErrorCode, Problem
from pdo_graph.integrations.sync.rpde import MAX_ID_LENGTH, FeedItem, item_id

FORMATS = ("PDO_CATALOG_V1", "OPENACTIVE_RPDE")
PDO_KINDS = frozenset({"program"})
OPENACTIVE_KINDS = frozenset({"CourseInstance", "SessionSeries"})
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


class ItemRefused(Exception):
    """One item cannot be applied; it is recorded with these problems and skipped."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(", ".join(repr(p) for p in problems))
        self.problems = list(problems)


def refused(key: str, field: Sequence[str] | None = None, /, **params: object) -> ItemRefused:
    return ItemRefused(Problem(ErrorCode.INVALID, key, field, **params))


@dataclass(frozen=True, slots=True)
class MappingContext:
    """What a source knows beyond its items: whose feed it is and how to pick directions."""

    provider_inn: str
    municipality: str
    default_direction: str | None = None
    activity_directions: Mapping[str, str] | None = None  # activity label or URI (lower case) -> direction


def known_kinds(format_: str) -> frozenset[str]:
    return PDO_KINDS if format_ == "PDO_CATALOG_V1" else OPENACTIVE_KINDS


def map_item(format_: str, item: FeedItem, ctx: MappingContext) -> ProgramItem:
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

    def _get(self, name: str, kind: type | tuple[type, ...], type_name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None:
            if required:
                self.bad(name, "sync_field_missing", field=name)
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            self.bad(name, "sync_field_type", field=name, type=type_name)
            return None
        return value

    def text(self, name: str, required: bool = True) -> str | None:
        value: str | None = self._get(name, str, "string", required)
        return value

    def integer(self, name: str, required: bool = True) -> int | None:
        value: int | None = self._get(name, int, "integer", required)
        return value

    def number(self, name: str) -> float | None:
        value = self._get(name, (int, float), "number", False)
        return None if value is None else float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, bool, "boolean", False)
        return default if value is None else bool(value)

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


# --- pdo-catalog/1 -------------------------------------------------------------------------------


def map_pdo_catalog(item: FeedItem, ctx: MappingContext) -> ProgramItem:
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
    funding_kind = r.text("fundingKind", required=False) or "CERTIFICATE"
    for_disabilities = r.boolean("forDisabilities", False)
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
            gid = item_id(raw.get("id")) if isinstance(raw, dict) else None
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
        funding_kind=funding_kind.upper(),
        for_disabilities=for_disabilities,
    )
    return ProgramItem(program, tuple(groups))


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


def map_openactive(item: FeedItem, ctx: MappingContext) -> ProgramItem:
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
        # a free offer is a free (municipal) program; a priced one is paid from certificates
        funding_kind="MUNICIPAL" if price == 0 else "CERTIFICATE",
        for_disabilities=bool(data.get("accessibilitySupport")),
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
    return ProgramItem(program, (group,))
