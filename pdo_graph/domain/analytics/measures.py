"""The analysts' measures and dimensions: what each figure counts, and by what it can be broken down.

Every measure is defined over the aggregates that the refresh job keeps (``refresh.py``; the
definitions in words are in docs/analytics.md, and the test that recomputes them from raw rows is
tests/analytics/test_measures.py):

- a **flow** counts events of a month (certificates issued, contracts concluded, money credited,
  charged for a month of service, expired; provision reports of a month). Over several months it
  is the sum of the months.
- a **stock** is a state in a month (certificates holding a funded place or waiting in the queue,
  children with a contract in force, money on reserve at the month's end). Without MONTH among the
  dimensions a stock is reported for the last month of the range.

Common to all: MUNICIPALITY is the certificate's municipality (the payer), AGE the child's full
years on the first day of the month, DIRECTION, FUNDING_KIND and PROVIDER those of the contract's
program. Certificate-level measures (issued, funded, queued, credited, expired) have no program,
so they are broken down by MUNICIPALITY, MONTH and AGE only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag, StrEnum


class Measure(StrEnum):
    CERTIFICATES = "CERTIFICATES"
    FUNDED_CERTIFICATES = "FUNDED_CERTIFICATES"
    CHILDREN_ENROLLED = "CHILDREN_ENROLLED"
    ENROLLMENTS = "ENROLLMENTS"
    CREDITED = "CREDITED"
    RESERVED = "RESERVED"
    SPENT = "SPENT"
    EXPIRED = "EXPIRED"
    AVERAGE_COMPLETENESS = "AVERAGE_COMPLETENESS"
    QUEUED_CERTIFICATES = "QUEUED_CERTIFICATES"


class Dimension(StrEnum):
    """In canonical order: the order in which the disclosure rules process a table's dimensions."""

    MUNICIPALITY = "MUNICIPALITY"
    DIRECTION = "DIRECTION"
    MONTH = "MONTH"
    AGE = "AGE"
    FUNDING_KIND = "FUNDING_KIND"
    PROVIDER = "PROVIDER"


CANONICAL: tuple[Dimension, ...] = tuple(Dimension)


class Timing(StrEnum):
    FLOW = "FLOW"
    STOCK = "STOCK"


class Unit(StrEnum):
    COUNT = "COUNT"
    MONEY = "MONEY"  # kopecks, shown as roubles with two decimals
    PERCENT = "PERCENT"  # an average, shown with one decimal


class Grouping(IntFlag):
    """Which optional dimensions a stored aggregate keeps (``analytics_cells.gset``); month and
    municipality are always kept."""

    NONE = 0
    AGE = 1
    DIRECTION = 2
    PROVIDER = 4
    FUNDING_KIND = 8


GROUPING_OF: dict[Dimension, Grouping] = {
    Dimension.AGE: Grouping.AGE,
    Dimension.DIRECTION: Grouping.DIRECTION,
    Dimension.PROVIDER: Grouping.PROVIDER,
    Dimension.FUNDING_KIND: Grouping.FUNDING_KIND,
}

CERTIFICATE_DIMENSIONS = frozenset({Dimension.MUNICIPALITY, Dimension.MONTH, Dimension.AGE})
ALL_DIMENSIONS = frozenset(Dimension)


@dataclass(frozen=True, slots=True)
class MeasureDef:
    measure: Measure
    timing: Timing
    unit: Unit
    value: str  # the analytics_cells column of the figure (for an average: the sum)
    children: str  # the column of the number of distinct children behind the figure
    dimensions: frozenset[Dimension]
    weight: str | None = None  # for an average: the column of the number of observations
    ids: str | None = None  # a flow: the column of the pseudonyms of the children behind a small cell

    @property
    def stock(self) -> bool:
        return self.timing is Timing.STOCK


DEFINITIONS: dict[Measure, MeasureDef] = {
    d.measure: d
    for d in (
        MeasureDef(
            Measure.CERTIFICATES, Timing.FLOW, Unit.COUNT, "certificates", "certificates", CERTIFICATE_DIMENSIONS
        ),
        MeasureDef(Measure.FUNDED_CERTIFICATES, Timing.STOCK, Unit.COUNT, "funded", "funded", CERTIFICATE_DIMENSIONS),
        MeasureDef(Measure.QUEUED_CERTIFICATES, Timing.STOCK, Unit.COUNT, "queued", "queued", CERTIFICATE_DIMENSIONS),
        MeasureDef(Measure.CHILDREN_ENROLLED, Timing.STOCK, Unit.COUNT, "enrolled", "enrolled", ALL_DIMENSIONS),
        MeasureDef(
            Measure.ENROLLMENTS,
            Timing.FLOW,
            Unit.COUNT,
            "enrollments",
            "enrollments_children",
            ALL_DIMENSIONS,
            ids="enrollments_ids",
        ),
        MeasureDef(
            Measure.CREDITED,
            Timing.FLOW,
            Unit.MONEY,
            "credited",
            "credited_children",
            CERTIFICATE_DIMENSIONS,
            ids="credited_ids",
        ),
        MeasureDef(Measure.RESERVED, Timing.STOCK, Unit.MONEY, "reserved", "reserved_children", ALL_DIMENSIONS),
        MeasureDef(Measure.SPENT, Timing.FLOW, Unit.MONEY, "spent", "spent_children", ALL_DIMENSIONS, ids="spent_ids"),
        MeasureDef(
            Measure.EXPIRED,
            Timing.FLOW,
            Unit.MONEY,
            "expired",
            "expired_children",
            CERTIFICATE_DIMENSIONS,
            ids="expired_ids",
        ),
        MeasureDef(
            Measure.AVERAGE_COMPLETENESS,
            Timing.FLOW,
            Unit.PERCENT,
            "completeness_sum",
            "completeness_children",
            ALL_DIMENSIONS,
            weight="completeness_reports",
            ids="completeness_ids",
        ),
    )
}


def grouping(dimensions: frozenset[Dimension] | set[Dimension]) -> Grouping:
    """The stored aggregate that keeps exactly these optional dimensions."""
    g = Grouping.NONE
    for d in dimensions:
        g |= GROUPING_OF.get(d, Grouping.NONE)
    return g
