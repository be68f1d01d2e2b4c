"""Analysts' tables: who may ask for which, and the table built from the aggregates.

A table has the asked dimensions, then the asked measures, as columns. Its rows are every
combination of the dimensions with data, and every margin: for each subset of the dimensions,
the rows totalled over the others (a total over a dimension shows null in its column), down to
the grand total. Rows are ordered by the dimensions in the order asked (municipality code,
direction in the enum's order, month, age, funding kind in the enum's order, provider INN), each
dimension's total after its values. Withheld figures are null (``disclosure``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from pdo_graph.db.tables import DIRECTIONS, FUNDING_KINDS
from pdo_graph.domain.access import Actor, Role, require_analytics_scope, require_role
from pdo_graph.domain.analytics.disclosure import Cell, Key, Level, Protection, all_levels, protect
from pdo_graph.domain.analytics.measures import CANONICAL, DEFINITIONS, Dimension, Measure, Unit
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.money import FIRST_YEAR, LAST_YEAR, format_amount, in_service_years

MAX_DIMENSIONS = 3
_MUNICIPALITY = re.compile(r"^[0-9]{2}$")
DIRECTION_ORDER = DIRECTIONS
KIND_ORDER = FUNDING_KINDS
TOTAL_LABEL = {"ru": "Итого", "en": "Total"}


@dataclass(frozen=True, slots=True)
class TableRequest:
    measures: tuple[Measure, ...]
    by: tuple[Dimension, ...]
    month_from: date | None = None
    month_to: date | None = None
    municipality: str | None = None
    direction: str | None = None

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        """The asked dimensions in canonical order (the order of the aggregates' keys)."""
        return tuple(d for d in CANONICAL if d in self.by)


@dataclass(frozen=True, slots=True)
class Figures:
    """One measure in one cell: the figure (for an average: the sum), its observations, the children."""

    value: int
    weight: int
    children: int


# The aggregates of a table: for each level (dimensions in canonical order) the cells, each with
# the figures of every asked measure that has data there. Keys hold the dimensions' values.
LevelData = Mapping[tuple[Dimension, ...], Mapping[Key, Mapping[Measure, Figures]]]


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str | None]]
    suppressed: int
    as_of: datetime | None
    month_from: date | None = None
    month_to: date | None = None


def authorize(actor: Actor, request: TableRequest) -> TableRequest:
    """Check the request and narrow it to what the caller may see.

    Analysts see the region (or their municipality, when their token names one); operators see
    their municipality only, and asking for another is refused (FORBIDDEN). Every other role is
    refused (``access.require_analytics_scope``). Bad input is refused with INVALID and the input path.
    """
    require_role(actor, Role.ANALYST, Role.OPERATOR)
    request = _validated(request)
    return replace(request, municipality=require_analytics_scope(actor, request.municipality))


def _validated(r: TableRequest) -> TableRequest:
    problems: list[Problem] = []
    if not r.measures:
        problems.append(Problem(ErrorCode.INVALID, "analytics_measures_empty", ["measures"]))
    if len(set(r.measures)) != len(r.measures):
        problems.append(Problem(ErrorCode.INVALID, "analytics_repeated", ["measures"]))
    if len(set(r.by)) != len(r.by):
        problems.append(Problem(ErrorCode.INVALID, "analytics_repeated", ["by"]))
    if len(r.by) > MAX_DIMENSIONS:
        problems.append(Problem(ErrorCode.INVALID, "analytics_too_many_dimensions", ["by"], max=MAX_DIMENSIONS))
    for m in r.measures:
        allowed = DEFINITIONS[m].dimensions
        for d in r.by:
            if d not in allowed:
                problems.append(
                    Problem(ErrorCode.INVALID, "analytics_not_applicable", ["by"], measure=m.value, dimension=d.value)
                )
        if r.direction is not None and Dimension.DIRECTION not in allowed:
            problems.append(
                Problem(
                    ErrorCode.INVALID,
                    "analytics_not_applicable",
                    ["filter", "direction"],
                    measure=m.value,
                    dimension=Dimension.DIRECTION.value,
                )
            )
    for day, name in ((r.month_from, "monthFrom"), (r.month_to, "monthTo")):
        if day is not None and not in_service_years(day):
            problems.append(Problem(ErrorCode.INVALID, "date_years", ["filter", name], min=FIRST_YEAR, max=LAST_YEAR))
    if r.month_from is not None and r.month_to is not None and r.month_to < r.month_from:
        problems.append(Problem(ErrorCode.INVALID, "date_order", ["filter", "monthTo"]))
    if r.municipality is not None and not _MUNICIPALITY.match(r.municipality):
        problems.append(Problem(ErrorCode.INVALID, "analytics_municipality_format", ["filter", "municipality"]))
    if problems:
        raise DomainError(*problems)
    return replace(
        r,
        month_from=None if r.month_from is None else r.month_from.replace(day=1),
        month_to=None if r.month_to is None else r.month_to.replace(day=1),
    )


def window(request: TableRequest, first_month: date | None, as_of_month: date) -> tuple[date, date]:
    """The months a table covers: the asked range, within the months the aggregates hold. A stock
    without MONTH is reported for the last of them."""
    start = request.month_from or first_month or as_of_month
    end = min(request.month_to or as_of_month, as_of_month)
    return start, end


def too_large(rows: int, limit: int) -> DomainError:
    return DomainError.of(ErrorCode.INVALID, "analytics_table_too_large", ["by"], max=limit)


def build(
    request: TableRequest,
    data: LevelData,
    threshold: int,
    as_of: datetime | None,
    months: tuple[date, date] | None = None,
) -> Table:
    """The table: every level's rows, figures formatted, withheld ones null."""
    dims = request.dimensions
    levels = all_levels(len(dims))
    level_dims = {lv: tuple(dims[i] for i in lv) for lv in levels}
    end = months[1] if months else None
    protections = {m: _protect(m, dims, levels, level_dims, data, threshold, end) for m in request.measures}
    rows: list[tuple[tuple[Any, ...], list[str | None]]] = []
    suppressed = 0
    for lv in levels:
        cells = data.get(level_dims[lv], {})
        empty: set[Key] = set()
        for m in request.measures:
            for p in protections[m]:
                empty |= p.empty.get(lv, set())
        names = level_dims[lv]
        for key in sorted(set(cells) | empty, key=lambda k: _sort_key(names, k)):
            figures = cells.get(key)
            row: list[str | None] = []
            by_dim = dict(zip(level_dims[lv], key, strict=True))
            for d in request.by:
                row.append(_show_dimension(d, by_dim[d]) if d in by_dim else None)
            for m in request.measures:
                f = None if figures is None else figures.get(m)
                withheld = any(p.is_withheld(lv, key) for p in protections[m])
                if withheld:
                    row.append(None)
                    suppressed += 1
                else:
                    row.append(_show_measure(m, f))
            rows.append((_row_order(request.by, by_dim), row))
    if not data.get(()):
        # no data at all: the grand total row still shows zeros
        zeros: list[str | None] = [None] * len(request.by)
        zeros += [_show_measure(m, None) for m in request.measures]
        rows.append((_row_order(request.by, {}), zeros))
    rows.sort(key=lambda r: r[0])
    return Table(
        columns=[d.value for d in request.by] + [m.value for m in request.measures],
        rows=[r for _, r in rows],
        suppressed=suppressed,
        as_of=as_of,
        month_from=months[0] if months else None,
        month_to=months[1] if months else None,
    )


def _protect(
    measure: Measure,
    dims: tuple[Dimension, ...],
    levels: list[Level],
    level_dims: Mapping[Level, tuple[Dimension, ...]],
    data: LevelData,
    threshold: int,
    end: date | None,
) -> list[Protection]:
    """The suppression of one measure: over the whole lattice, or, for a stock by MONTH, month by
    month (a stock is not summed over months; its total over months is the last month's figure)."""

    def cell(figures: Mapping[Measure, Figures]) -> Cell | None:
        f = figures.get(measure)
        return None if f is None or f.children <= 0 else Cell(f.value, f.children)

    definition = DEFINITIONS[measure]
    if not (definition.stock and Dimension.MONTH in dims):
        cells = {
            lv: {k: c for k, fs in data.get(level_dims[lv], {}).items() if (c := cell(fs)) is not None} for lv in levels
        }
        return [protect(len(dims), cells, threshold)]
    at = dims.index(Dimension.MONTH)
    rest = tuple(i for i in range(len(dims)) if i != at)
    slices: dict[date, dict[Level, dict[Key, Cell]]] = {}
    for lv in levels:
        if at not in lv:
            continue
        position = lv.index(at)
        sub = tuple(rest.index(i) for i in lv if i != at)
        for k, fs in data.get(level_dims[lv], {}).items():
            c = cell(fs)
            if c is not None:
                slices.setdefault(k[position], {}).setdefault(sub, {})[k[:position] + k[position + 1 :]] = c
    out: list[Protection] = []
    for month, cells in sorted(slices.items()):
        p = protect(len(rest), cells, threshold)
        out.append(_lift_month(p, rest, at, month, with_totals=month == end))
    return out


def _lift_month(p: Protection, rest: tuple[int, ...], at: int, month: date, with_totals: bool) -> Protection:
    """A month's protection in the table's levels (and, for the last month, the levels without
    MONTH, which show the same stock)."""
    out = Protection()
    for target, source in (("primary", p.primary), ("withheld", p.withheld), ("empty", p.empty)):
        mapped: dict[Level, set[Key]] = {}
        for sub, keys in source.items():
            lv_without = tuple(rest[i] for i in sub)
            lv = tuple(sorted((*lv_without, at)))
            position = lv.index(at)
            mapped.setdefault(lv, set()).update((*k[:position], month, *k[position:]) for k in keys)
            if with_totals:
                mapped.setdefault(lv_without, set()).update(keys)
        setattr(out, target, mapped)
    return out


def _sort_key(dims: Sequence[Dimension], key: Key) -> tuple[Any, ...]:
    return tuple(_order_value(d, v) for d, v in zip(dims, key, strict=True))


def _order_value(d: Dimension, value: Any) -> Any:
    if d is Dimension.DIRECTION:
        return DIRECTION_ORDER.index(value) if value in DIRECTION_ORDER else len(DIRECTION_ORDER)
    if d is Dimension.FUNDING_KIND:
        return KIND_ORDER.index(value) if value in KIND_ORDER else len(KIND_ORDER)
    return value


def _row_order(by: Sequence[Dimension], values: Mapping[Dimension, Any]) -> tuple[Any, ...]:
    return tuple((0, _order_value(d, values[d])) if d in values else (1, 0) for d in by)


def _show_dimension(d: Dimension, value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _show_measure(m: Measure, f: Figures | None) -> str | None:
    unit = DEFINITIONS[m].unit
    if unit is Unit.PERCENT:
        if f is None or f.weight <= 0:
            return None
        tenths = (20 * f.value + f.weight) // (2 * f.weight)
        return f"{tenths // 10}.{tenths % 10}"
    value = 0 if f is None else f.value
    return format_amount(value) if unit is Unit.MONEY else str(value)


def to_csv(table: Table, lang: str = "ru") -> bytes:
    """The table as CSV for spreadsheets: UTF-8 with BOM, ``;`` separated, decimal comma; a total
    over a dimension says so, a withheld figure is empty."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(table.columns)
    n_dims = sum(1 for c in table.columns if c in Dimension.__members__)
    total = TOTAL_LABEL.get(lang, TOTAL_LABEL["ru"])
    for row in table.rows:
        cells: list[str] = []
        for i, value in enumerate(row):
            if i < n_dims:
                cells.append(total if value is None else value)
            else:
                cells.append("" if value is None else value.replace(".", ","))
        writer.writerow(cells)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def link_payload(actor: Actor, request: TableRequest, lang: str) -> dict[str, object]:
    """What a signed CSV link carries: the caller's rights and the table asked for (no personal data)."""
    return {
        **actor.link_rights(),
        "lang": lang,
        "measures": [m.value for m in request.measures],
        "by": [d.value for d in request.by],
        "from": None if request.month_from is None else request.month_from.isoformat(),
        "to": None if request.month_to is None else request.month_to.isoformat(),
        "filter_muni": request.municipality,
        "direction": request.direction,
    }


def from_link(payload: Mapping[str, Any]) -> tuple[Actor, TableRequest, str]:
    """The caller and the table of a signed link's payload (``ValueError`` when it is malformed)."""

    def day(value: Any) -> date | None:
        return None if value is None else date.fromisoformat(str(value))

    actor = Actor.from_link(payload)
    request = TableRequest(
        measures=tuple(Measure(str(m)) for m in payload.get("measures") or []),
        by=tuple(Dimension(str(d)) for d in payload.get("by") or []),
        month_from=day(payload.get("from")),
        month_to=day(payload.get("to")),
        municipality=None if payload.get("filter_muni") is None else str(payload["filter_muni"]),
        direction=None if payload.get("direction") is None else str(payload["direction"]),
    )
    return actor, request, "en" if payload.get("lang") == "en" else "ru"
