"""The older fixed-shape summary (deprecated in the API in favour of ``analytics``): children,
applications and money charged by direction, municipality and month.

A row backed by fewer than ``MIN_CHILDREN`` distinct children has its figures withheld (primary
suppression only; the ``analytics`` query adds complementary suppression and its margins).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pdo_graph.domain.access import Actor, require_analytics_scope
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.domain.money import FIRST_YEAR, LAST_YEAR, add_months, in_service_years, months_between

MIN_CHILDREN = 5
MAX_MONTHS = 36  # one summary spans at most three years


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    start: date
    end: date  # the first day after the last month
    municipality: str | None


@dataclass(frozen=True, slots=True)
class AnalyticsRow:
    direction: str
    municipality: str
    month: date
    suppressed: bool
    children: int | None
    enrollments: int | None
    spent: int | None


def authorize(actor: Actor, month_from: date, month_to: date, municipality: str | None) -> SummaryRequest:
    """Months [month_from, month_to] (any days of them, years 2000-2100, at most ``MAX_MONTHS``),
    narrowed to what the caller may see."""
    municipality = require_analytics_scope(actor, municipality)
    for value, name in ((month_from, "monthFrom"), (month_to, "monthTo")):
        if not in_service_years(value):
            raise DomainError.of(ErrorCode.INVALID, "date_years", ["filter", name], min=FIRST_YEAR, max=LAST_YEAR)
    if month_to < month_from:
        raise DomainError.of(ErrorCode.INVALID, "date_order", ["filter", "monthTo"])
    if months_between(month_from, month_to) > MAX_MONTHS:
        raise DomainError.of(ErrorCode.INVALID, "analytics_span", ["filter", "monthTo"], max=MAX_MONTHS)
    return SummaryRequest(month_from.replace(day=1), add_months(month_to, 1), municipality)


def rows(raw: Iterable[Any]) -> list[AnalyticsRow]:
    """Rows of (direction, municipality, month, children, enrollments, spent), small ones withheld."""
    out: list[AnalyticsRow] = []
    for r in raw:
        small = int(r.children) < MIN_CHILDREN
        out.append(
            AnalyticsRow(
                direction=str(r.direction),
                municipality=str(r.municipality),
                month=r.month,
                suppressed=small,
                children=None if small else int(r.children),
                enrollments=None if small else int(r.enrollments),
                spent=None if small else int(r.spent),
            )
        )
    return out
