"""Every GraphQL type of the analysts' view: measures, dimensions, the filter, the table (no SQL)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry

from pdo_graph.domain.analytics import summary
from pdo_graph.domain.analytics.measures import Dimension
from pdo_graph.schema.base import Money, describe_values
from pdo_graph.schema.catalog import Direction


@strawberry.enum(
    name="AnalyticsMeasure",
    description=(
        "What a table counts. A flow counts events of a month (over several months: their sum); a stock is a state "
        "in a month (without MONTH among the dimensions: the last month of the range). Figures behind fewer "
        "children than the threshold are withheld. Definitions in full: docs/analytics.md."
    ),
)
class AnalyticsMeasure(Enum):
    CERTIFICATES = strawberry.enum_value(
        "CERTIFICATES",
        description="Flow: certificates issued in the month (any status now). By municipality, month, age.",
    )
    FUNDED_CERTIFICATES = strawberry.enum_value(
        "FUNDED_CERTIFICATES",
        description=(
            "Stock: certificates holding a funded place in a funding period in the month (from the month funded to "
            "the period's last month or its close). By municipality, month, age."
        ),
    )
    QUEUED_CERTIFICATES = strawberry.enum_value(
        "QUEUED_CERTIFICATES",
        description=(
            "Stock: certificates waiting in a period's queue in the month (beyond the funded limit, until funded). "
            "By municipality, month, age."
        ),
    )
    CHILDREN_ENROLLED = strawberry.enum_value(
        "CHILDREN_ENROLLED",
        description=(
            "Stock: distinct children with a contract in force in the month (accepted; active, completed or "
            "terminated; from its first month to its last or the month it ended). A child with contracts in two "
            "directions counts once in their total."
        ),
    )
    ENROLLMENTS = strawberry.enum_value(
        "ENROLLMENTS", description="Flow: contracts concluded (applications accepted by the provider) in the month."
    )
    CREDITED = strawberry.enum_value(
        "CREDITED",
        description="Flow, roubles: money credited to certificates (CREDIT entries) in the month. By municipality, month, age.",
    )
    RESERVED = strawberry.enum_value(
        "RESERVED",
        description="Stock, roubles: money on reserve for contracts at the end of the month (RESERVE - RELEASE - CHARGE).",
    )
    SPENT = strawberry.enum_value(
        "SPENT", description="Flow, roubles: money charged for the month of service (CHARGE entries of that month)."
    )
    EXPIRED = strawberry.enum_value(
        "EXPIRED",
        description="Flow, roubles: money expired (EXPIRE entries) in the month. By municipality, month, age.",
    )
    AVERAGE_COMPLETENESS = strawberry.enum_value(
        "AVERAGE_COMPLETENESS",
        description=(
            "Flow, percent: the mean completeness of the providers' monthly reports for the month (one decimal; "
            "null where there is no report)."
        ),
    )


AnalyticsDimension = strawberry.enum(
    Dimension,
    name="AnalyticsDimension",
    description=(
        "What a table is broken down by. MUNICIPALITY: the certificate's municipality (the payer); MONTH: the "
        "calendar month (first day; Europe/Moscow); AGE: the child's full years on the month's first day; "
        "DIRECTION, FUNDING_KIND, PROVIDER (its INN): of the contract's program."
    ),
)

describe_values(
    AnalyticsDimension,
    {
        "MUNICIPALITY": "The certificate's municipality: the payer of its money.",
        "DIRECTION": "The direction of the contract's program.",
        "MONTH": "The calendar month (its first day, Europe/Moscow).",
        "AGE": "The child's full years on the month's first day.",
        "FUNDING_KIND": "The funding kind of the contract's program (certificate, municipal, paid).",
        "PROVIDER": "The program's provider, by its INN.",
    },
)


@strawberry.input(description="Which part of the data a table covers.")
class AnalyticsQueryFilter:
    month_from: date | None = strawberry.field(
        default=None, description="First month (any day of it); default: the first month with data."
    )
    month_to: date | None = strawberry.field(
        default=None, description="Last month (any day of it), inclusive; default and at most: the current month."
    )
    municipality: str | None = strawberry.field(
        default=None, description="One municipality (code); operators always see their own."
    )
    direction: Direction | None = strawberry.field(default=None, description="One direction of programs.")


@strawberry.type(
    description=(
        "A table of measures by dimensions, with every margin: for each subset of the dimensions the rows totalled "
        "over the others (null in a dimension's column means the total over it), down to the grand total. Rows "
        "are ordered by the dimensions in the order asked, each dimension's total after its values. Figures "
        "behind fewer children than the threshold, and the figures withheld so that those cannot be derived "
        "from the others and the totals, are null."
    )
)
class AnalyticsTable:
    columns: list[str] = strawberry.field(description="Dimension names, then measure names, in the order asked.")
    rows: list[list[str | None]] = strawberry.field(
        description=(
            "One list per row: dimension values (municipality code, direction, month as YYYY-MM-01, age, funding "
            "kind, provider INN; null: total), then figures (counts; roubles with two decimals; percent with one "
            "decimal); a withheld figure is null."
        )
    )
    suppressed: int = strawberry.field(description="Figures withheld (primary and complementary).")
    csv_url: str = strawberry.field(
        description=(
            "The same table as CSV (UTF-8 with BOM, ';' separated, decimal comma): a path on this server with a "
            "signed token, valid for a few minutes, that needs no header (it carries the caller's rights)."
        )
    )
    as_of: datetime | None = strawberry.field(
        description="When the aggregates were computed (they are refreshed by a job); null before the first refresh."
    )
    month_from: date | None = strawberry.field(description="The first month the table covers.")
    month_to: date | None = strawberry.field(
        description="The last month the table covers (stocks without MONTH are figures of this month)."
    )


@strawberry.input(description="Which months and municipality to aggregate.")
class AnalyticsFilter:
    month_from: date = strawberry.field(description="First month (any day of it).")
    month_to: date = strawberry.field(description="Last month (any day of it), inclusive.")
    municipality: str | None = strawberry.field(default=None, description="One municipality; null: all in scope.")


@strawberry.type(description="Aggregates for one direction, municipality and month.")
class AnalyticsRow:
    direction: Direction = strawberry.field(description="Direction of the programs.")
    municipality: str = strawberry.field(description="Municipality of the children.")
    month: date = strawberry.field(description="Month (first day).")
    suppressed: bool = strawberry.field(
        description=f"True when fewer than {summary.MIN_CHILDREN} children are behind the row: figures withheld."
    )
    children: int | None = strawberry.field(description="Distinct children applying or charged that month.")
    enrollments: int | None = strawberry.field(description="Applications made that month.")
    spent: Money | None = strawberry.field(description="Charged to certificates for that month.")
