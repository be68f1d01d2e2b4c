"""Catalog search (the navigator): Russian full-text search, filters, orders, keyset pages, facets.

One SQL statement per page. The matching programs are computed once (a materialized CTE) and
give both the page (keyset on ``(sort key, id)``) and the facet counts by direction. Facets count
the same search and filters except the direction filter itself, so a client can show how many
programs each other direction would give; ``total`` is the count with every filter.

Text: the input is reduced to words (letters and digits), Russian stop words are dropped, every
word must match (AND) and the last word also matches as a prefix while the person is still typing
(no trailing space), e.g. ``робот`` -> ``'робот':*``. Words are stemmed by PostgreSQL's ``russian``
configuration on both sides, so "робототехнике" finds "Робототехника". User input never reaches
the tsquery syntax: only ``[0-9a-zа-я]`` words are quoted into it.

Kinds, form, suitability: ``fundingKind`` (facets by kind count the same search without the kind
filter, as those by direction do without the direction filter: both come from one grouping by
(direction, kind)), the form of study, suitability for children with disabilities.

Distance: programs with coordinates within ``radius_km`` of a point (great-circle distance on a
sphere of radius 6371 km, the haversine formula in plain SQL: the embedded PostgreSQL has neither
cube nor earthdistance); a bounding box in degrees is tested first, on the index
``ix_programs_location``. ``DISTANCE_ASC`` orders by that distance (it needs the point).

Groups: a group is *searchable* when it is not archived, open for enrollment and not over
(``ends_on >= today``). The group filters (maxPrice, hasFreeSeats, coveredByCertificate) must hold
for one and the same searchable group; PRICE_ASC sorts by the cheapest such group and
STARTS_ON_ASC by the earliest such group starting today or later (programs without one last).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.db.tables import DIRECTIONS, FUNDING_KINDS
from pdo_graph.domain.catalog import AGES

MAX_TEXT = 200
MAX_WORDS = 8
MAX_WORD = 40

# PostgreSQL's tsearch_data/russian.stop (ё written as е): words the `russian` configuration drops.
RUSSIAN_STOP_WORDS = frozenset(
    """и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было вот
    от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас нибудь опять
    уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтоб без
    будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом один
    почти мой тем чтобы нее сейчас были куда зачем всех никогда можно при наконец два об другой хоть после
    над больше тот через эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед
    иногда лучше чуть том нельзя такой им более всегда конечно всю между""".split()
)

_WORD = re.compile(r"[0-9a-zа-я]+")
_MUNICIPALITY = re.compile(r"[0-9]{2}")

# Sort keys never NULL, so that keyset comparisons stay simple: "missing" sorts last.
_LAST_INT = 9_000_000_000_000_000
_LAST_DAY = 2_147_483_647


class Order(StrEnum):
    RELEVANCE = "RELEVANCE"
    PRICE_ASC = "PRICE_ASC"
    RATING_DESC = "RATING_DESC"
    STARTS_ON_ASC = "STARTS_ON_ASC"
    DISTANCE_ASC = "DISTANCE_ASC"


EARTH_RADIUS_KM = 6371.0
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180
MAX_RADIUS_KM = 1000.0


@dataclass(frozen=True, slots=True)
class Near:
    """A point and a radius: programs whose coordinates lie within ``radius_km`` of it."""

    latitude: float
    longitude: float
    radius_km: float

    def valid(self) -> bool:
        values = (self.latitude, self.longitude, self.radius_km)
        return (
            all(math.isfinite(v) for v in values)
            and -90 <= self.latitude <= 90
            and -180 <= self.longitude <= 180
            and 0 < self.radius_km <= MAX_RADIUS_KM
        )


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), as the search computes it in SQL."""
    a = (
        math.sin(math.radians(lat2 - lat1) / 2) ** 2
        + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


# the same formula over the program's columns (parameters :near_lat, :near_lon)
DISTANCE_SQL = (
    f"({2 * EARTH_RADIUS_KM} * asin(least(1.0, sqrt(power(sin(radians(p.latitude - :near_lat) / 2), 2)"
    " + cos(radians(:near_lat)) * cos(radians(p.latitude)) * power(sin(radians(p.longitude - :near_lon) / 2), 2)))))"
)


def bounding_box(near: Near) -> tuple[list[str], dict[str, float]]:
    """Conditions in degrees that every program within the radius meets (an index can answer them)."""
    dlat = near.radius_km / KM_PER_DEGREE
    conds = ["p.latitude BETWEEN :lat_min AND :lat_max"]
    params = {"lat_min": near.latitude - dlat, "lat_max": near.latitude + dlat}
    if abs(near.latitude) + dlat >= 89.9:
        return conds, params  # near a pole every longitude may be close
    dlon = math.degrees(math.asin(min(1.0, math.sin(math.radians(dlat)) / math.cos(math.radians(near.latitude)))))
    lo, hi = near.longitude - dlon, near.longitude + dlon
    if lo < -180:
        conds.append("(p.longitude >= :lon_min OR p.longitude <= :lon_max)")
        params.update(lon_min=lo + 360, lon_max=hi)
    elif hi > 180:
        conds.append("(p.longitude >= :lon_min OR p.longitude <= :lon_max)")
        params.update(lon_min=lo, lon_max=hi - 360)
    else:
        conds.append("p.longitude BETWEEN :lon_min AND :lon_max")
        params.update(lon_min=lo, lon_max=hi)
    return conds, params


@dataclass(frozen=True, slots=True)
class Coverage:
    """What a certificate can pay now: its available balance in the current period."""

    available: int
    cap_at_normative: bool = False  # the period caps what a certificate pays at the normative cost


@dataclass(frozen=True, slots=True)
class SearchQuery:
    today: date
    text: str | None = None
    direction: str | None = None
    age: int | None = None
    municipality: str | None = None
    max_price: int | None = None
    has_free_seats: bool = False
    covered: Coverage | None = None
    certified_only: bool = False
    provider_id: int | None = None
    include_archived: bool = False
    order: Order = Order.RELEVANCE
    funding_kind: str | None = None
    form: str | None = None
    for_disabilities: bool = False
    near: Near | None = None


@dataclass(frozen=True, slots=True)
class SearchPage:
    rows: list[Row[Any]]  # up to first + 1 program rows in page order, each with `sort_key`
    tag: str  # the cursor tag of the order actually used
    total: int | None  # None when counts were not asked for
    facets: dict[str, int] = field(default_factory=dict)  # by direction (without the direction filter)
    kind_facets: dict[str, int] = field(default_factory=dict)  # by funding kind (without the kind filter)


class BadCursor(ValueError):
    """The ``after`` cursor is not one this search produced."""


class BadQuery(ValueError):
    """The search cannot be run as asked (DISTANCE_ASC without a point, a bad point or radius)."""


def tsquery_text(raw: str | None) -> str | None:
    """The user's words as a safe ``to_tsquery`` argument, or None when there is nothing to search."""
    if raw is None:
        return None
    cut = raw[:MAX_TEXT].lower().replace("ё", "е")
    words = _WORD.findall(cut)
    typing = bool(words) and cut.endswith(words[-1]) and len(words) <= MAX_WORDS
    words = words[:MAX_WORDS]
    terms: list[str] = []
    for i, word in enumerate(words):
        if word in RUSSIAN_STOP_WORDS:
            continue
        word = word[:MAX_WORD]
        if typing and i == len(words) - 1:
            if len(word) < 2:
                continue  # a single letter being typed would match nearly everything
            terms.append(f"'{word}':*")
        else:
            terms.append(f"'{word}'")
    return " & ".join(terms) if terms else None


def order_tag(order: Order, has_text: bool) -> str:
    if order is Order.RELEVANCE:
        return "R" if has_text else "I"
    return {Order.PRICE_ASC: "P", Order.RATING_DESC: "A", Order.STARTS_ON_ASC: "S", Order.DISTANCE_ASC: "D"}[order]


_FLOAT_TAGS = frozenset({"R", "A", "D"})


def parse_cursor(values: Sequence[Any] | None, tag: str) -> tuple[float | int, int] | None:
    """``[tag, key, id]`` of this order, or BadCursor."""
    if values is None:
        return None
    if len(values) != 3 or values[0] != tag:
        raise BadCursor("cursor of another order")
    key, pk = values[1], values[2]
    if isinstance(pk, bool) or not isinstance(pk, int) or not 0 < pk < 2**63:
        raise BadCursor("bad id")
    if isinstance(key, bool) or not isinstance(key, int | float):
        raise BadCursor("bad key")
    if tag not in _FLOAT_TAGS and (not isinstance(key, int) or abs(key) >= 2**63):
        raise BadCursor("bad key")
    return key, pk


def cursor_values(tag: str, row: Row[Any]) -> list[Any]:
    return [tag, row.sort_key, row.id]


PROGRAM_COLUMNS = (
    "p.id, p.provider_id, p.external_id, p.title, p.description, p.direction, p.min_age, p.max_age, p.hours,"
    " p.form, p.municipality, p.address, p.latitude, p.longitude, p.normative_cost, p.certified, p.archived,"
    " p.rating_sum, p.rating_count, p.funding_kind, p.for_disabilities"
)

SEARCHABLE_GROUP = "NOT g.archived AND g.enrollment_open AND g.ends_on >= :today"

_START_MONTH = "(date_part('year', g.starts_on)::int * 12 + date_part('month', g.starts_on)::int)"
_END_MONTH = "(date_part('year', g.ends_on)::int * 12 + date_part('month', g.ends_on)::int)"


def _price_now(amount: str) -> str:
    """What joining the group today costs: the whole amount before its start, else the months left
    (current month to the end) of its months, rounded half up, as pdo_graph.domain.enrollment quotes."""
    total = f"({_END_MONTH} - {_START_MONTH} + 1)"
    left = f"({_END_MONTH} - CAST(:today_month AS int) + 1)"
    return f"(CASE WHEN g.starts_on >= :today THEN {amount} ELSE (2 * {amount} * {left} + {total}) / (2 * {total}) END)"


def build(q: SearchQuery, first: int, after: Sequence[Any] | None, counts: bool) -> tuple[str, dict[str, Any], str]:
    """SQL, parameters and cursor tag of one page; raises BadCursor or BadQuery."""
    if q.near is not None and not q.near.valid():
        raise BadQuery("near")
    if q.order is Order.DISTANCE_ASC and q.near is None:
        raise BadQuery("distance order without a point")
    tsq = tsquery_text(q.text)
    tag = order_tag(q.order, tsq is not None)
    keyset = parse_cursor(after, tag)
    params: dict[str, Any] = {"today": q.today, "limit": first + 1}
    joins: list[str] = []
    where: list[str] = []
    if not q.include_archived:
        where.append("NOT p.archived")
    if tsq is not None:
        joins.append("CROSS JOIN to_tsquery('russian', :tsq) AS tq(q)")
        where.append("p.search @@ tq.q")
        params["tsq"] = tsq
    if q.municipality is not None:
        if _MUNICIPALITY.fullmatch(q.municipality):
            where.append("p.municipality = :municipality")
            params["municipality"] = q.municipality
        else:
            where.append("false")  # no such municipality (and nothing odd reaches the database)
    if q.age is not None:
        if AGES[0] <= q.age <= AGES[1]:
            where.append("p.min_age <= :age AND p.max_age >= :age")
            params["age"] = q.age
        else:
            where.append("false")  # no program takes children of that age
    if q.certified_only or q.covered is not None:
        where.append("p.certified")  # only certified programs may be paid from a certificate
    if q.provider_id is not None:
        where.append("p.provider_id = :provider_id")
        params["provider_id"] = q.provider_id
    if q.form is not None:
        where.append("p.form = :form")
        params["form"] = " ".join(q.form.split()).lower()
    if q.for_disabilities:
        where.append("p.for_disabilities")
    if q.near is not None:
        box, box_params = bounding_box(q.near)
        where.extend(box)
        where.append(f"{DISTANCE_SQL} <= :radius_km")
        params.update(box_params, near_lat=q.near.latitude, near_lon=q.near.longitude, radius_km=q.near.radius_km)

    group_where = [SEARCHABLE_GROUP]
    if q.max_price is not None:
        group_where.append("g.price <= :max_price")
        params["max_price"] = q.max_price
    if q.has_free_seats:
        group_where.append("g.seats_taken < g.capacity")
    if q.covered is not None:
        price_now = _price_now("g.price")
        group_where.append(f"{price_now} <= :available")
        params["available"] = q.covered.available
        params["today_month"] = q.today.year * 12 + q.today.month
        if q.covered.cap_at_normative:
            group_where.append(f"(p.normative_cost IS NULL OR {price_now} <= {_price_now('p.normative_cost')})")
    group_filtered = len(group_where) > 1
    group_cond = " AND ".join(group_where)

    if tag in ("P", "S"):
        joins.append(
            "CROSS JOIN LATERAL (SELECT min(g.price) AS min_price,"
            " min(g.starts_on) FILTER (WHERE g.starts_on >= :today) AS next_start"
            f" FROM groups g WHERE g.program_id = p.id AND {group_cond}) gs"
        )
        if group_filtered:
            where.append("gs.min_price IS NOT NULL")
    elif group_filtered:
        where.append(f"EXISTS (SELECT 1 FROM groups g WHERE g.program_id = p.id AND {group_cond})")

    key, key_type = {
        "R": ("-ts_rank_cd(p.search, tq.q)::float8", "float8"),
        "I": ("0::bigint", "bigint"),
        "P": (f"coalesce(gs.min_price, {_LAST_INT})", "bigint"),
        "A": ("CASE WHEN p.rating_count > 0 THEN -(p.rating_sum::float8 / p.rating_count) ELSE 1 END", "float8"),
        "S": (f"coalesce(gs.next_start - DATE '1970-01-01', {_LAST_DAY})::bigint", "bigint"),
        "D": (f"{DISTANCE_SQL}::float8", "float8"),
    }[tag]

    if q.direction is not None:
        params["direction"] = q.direction
    if q.funding_kind is not None:
        params["funding_kind"] = q.funding_kind
    if keyset is not None:
        params["after_key"], params["after_id"] = keyset
    source = f"FROM programs p {' '.join(joins)} WHERE {' AND '.join(where) or 'true'}"

    def page_filter(key_expr: str, id_expr: str, direction_expr: str, kind_expr: str) -> str:
        conds = []
        if q.direction is not None:
            conds.append(f"{direction_expr} = :direction")
        if q.funding_kind is not None:
            conds.append(f"{kind_expr} = :funding_kind")
        if keyset is not None:
            conds.append(
                f"({key_expr}, {id_expr}) > (CAST(:after_key AS {key_type}), CAST(:after_id AS bigint))"
                if tag != "I"
                else f"{id_expr} > CAST(:after_id AS bigint)"
            )
        return "".join(f" AND {c}" for c in conds)

    order_by = "ORDER BY p.id" if tag == "I" else "ORDER BY 2, p.id"
    if counts:
        sql = (
            f"WITH c AS MATERIALIZED (SELECT p.id, p.direction, p.funding_kind, {key} AS k {source}),"
            " f AS (SELECT array_agg(direction) AS directions, array_agg(funding_kind) AS kinds, array_agg(n) AS counts"
            "  FROM (SELECT direction, funding_kind, count(*) AS n FROM c GROUP BY direction, funding_kind) x),"
            f" pg AS (SELECT c.id, c.k FROM c WHERE true{page_filter('c.k', 'c.id', 'c.direction', 'c.funding_kind')}"
            "  ORDER BY c.k, c.id LIMIT :limit)"
            # the facets once, on the first row (the page's rows need not each carry them)
            " SELECT CASE WHEN row_number() OVER w = 1 THEN f.directions END AS facet_directions,"
            " CASE WHEN row_number() OVER w = 1 THEN f.kinds END AS facet_kinds,"
            " CASE WHEN row_number() OVER w = 1 THEN f.counts END AS facet_counts,"
            f" pg.k AS sort_key, {PROGRAM_COLUMNS}"
            " FROM f LEFT JOIN (pg JOIN programs p ON p.id = pg.id) ON true WINDOW w AS (ORDER BY pg.k, pg.id)"
            " ORDER BY pg.k, pg.id"
        )
    else:
        # keys of the page first, the wide rows only for the page
        sql = (
            f"SELECT pg.k AS sort_key, {PROGRAM_COLUMNS} FROM (SELECT p.id, {key} AS k {source}"
            f"{page_filter(key, 'p.id', 'p.direction', 'p.funding_kind')} {order_by} LIMIT :limit) pg"
            " JOIN programs p ON p.id = pg.id ORDER BY pg.k, pg.id"
        )
    return sql, params, tag


async def search(
    conn: AsyncConnection, q: SearchQuery, first: int, after: Sequence[Any] | None = None, counts: bool = True
) -> SearchPage:
    """One page of programs (up to ``first + 1`` rows: the extra one says a next page exists)."""
    sql, params, tag = build(q, first, after, counts)
    return page_of(q, (await conn.execute(text(sql), params)).all(), tag, counts)


def page_of(q: SearchQuery, result: Sequence[Any], tag: str, counts: bool) -> SearchPage:
    """The page of the rows of ``build``'s statement (its facets and total with ``counts``)."""
    if not counts:
        return SearchPage(rows=list(result), tag=tag, total=None)
    head = result[0]
    facets = dict.fromkeys(DIRECTIONS, 0)
    kind_facets = dict.fromkeys(FUNDING_KINDS, 0)
    total = 0
    cells = zip(head.facet_directions or [], head.facet_kinds or [], head.facet_counts or [], strict=True)
    for direction, kind, n in cells:
        direction_ok = q.direction is None or direction == q.direction
        kind_ok = q.funding_kind is None or kind == q.funding_kind
        if kind_ok:
            facets[direction] += int(n)
        if direction_ok:
            kind_facets[kind] += int(n)
        if direction_ok and kind_ok:
            total += int(n)
    rows = [r for r in result if r.id is not None]
    return SearchPage(rows=rows, tag=tag, total=total, facets=facets, kind_facets=kind_facets)
