"""Every measure equals what the ledger and the tables say: recomputed in Python from the raw rows of
generated regions (two seeds), for many dimension combinations and filters, and compared figure by
figure with the tables the service builds (threshold 1: nothing withheld), then through the API with
the real threshold (published figures equal, each behind at least 5 distinct children)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from pdo_graph.domain.access import Actor, Role
from pdo_graph.domain.analytics import tables
from pdo_graph.domain.analytics.measures import Dimension, Measure
from pdo_graph.domain.money import add_months
from pdo_graph.reads import analytics as reads
from tests.analytics.conftest import SMALL, make_region
from tests.analytics.expected import expected_cells, figure, load_facts

CERTIFICATE_MEASURES = ("CERTIFICATES", "FUNDED_CERTIFICATES", "QUEUED_CERTIFICATES", "CREDITED", "EXPIRED")
CONTRACT_MEASURES = ("CHILDREN_ENROLLED", "ENROLLMENTS", "RESERVED", "SPENT", "AVERAGE_COMPLETENESS")
COMBOS = [
    (CERTIFICATE_MEASURES, ()),
    (CERTIFICATE_MEASURES, ("MUNICIPALITY",)),
    (CERTIFICATE_MEASURES, ("MONTH",)),
    (CERTIFICATE_MEASURES, ("AGE", "MUNICIPALITY")),
    (CERTIFICATE_MEASURES, ("MONTH", "AGE", "MUNICIPALITY")),
    (CONTRACT_MEASURES, ()),
    (CONTRACT_MEASURES, ("DIRECTION",)),
    (CONTRACT_MEASURES, ("PROVIDER",)),
    (CONTRACT_MEASURES, ("AGE",)),
    (CONTRACT_MEASURES, ("FUNDING_KIND", "MONTH")),
    (CONTRACT_MEASURES, ("MUNICIPALITY", "DIRECTION", "AGE")),
    (CONTRACT_MEASURES, ("MONTH", "PROVIDER")),
    (CONTRACT_MEASURES, ("DIRECTION", "FUNDING_KIND", "MONTH")),
    (("SPENT", "CREDITED"), ("MUNICIPALITY", "MONTH")),
]
ANALYST = Actor(Role.ANALYST, "an")


def filters(as_of_month: date) -> list[dict[str, object]]:
    return [
        {},
        {"month_from": add_months(as_of_month, -14), "month_to": add_months(as_of_month, -3)},
        {"municipality": "01"},
        {"month_from": add_months(as_of_month, -20), "municipality": "05"},
    ]


def compare(
    table: tables.Table, measures: tuple[str, ...], by: tuple[str, ...], cells: dict, published_only: bool
) -> int:
    """Every row's figures against the recomputation; returns the number of figures compared."""
    n_dims = len(by)
    seen = set()
    compared = 0
    for row in table.rows:
        key = tuple(row[:n_dims])
        seen.add(key)
        for i, m in enumerate(measures):
            got = row[n_dims + i]
            if published_only and got is None:
                continue
            want = figure(m, cells[m].get(key))
            assert got == want, f"{m} by {by} at {key}: table says {got}, rows say {want}"
            compared += 1
    if not published_only:
        expected_keys = {k for m in measures for k in cells[m]} | {(None,) * n_dims}
        assert seen == expected_keys, f"rows differ for {by}: {sorted(map(str, seen ^ expected_keys))[:5]}"
    return compared


@pytest.mark.slow  # two regions, every combination recomputed in Python (about 4 s each)
@pytest.mark.parametrize("seed", [0.3, 0.77])
async def test_every_measure_equals_the_raw_rows(db, seed):
    done = await make_region(db, replace(SMALL, seed=seed))
    async with db.connect() as conn:
        facts = await load_facts(conn, done.as_of_month)
        live = await reads.state(conn)
        assert live is not None and live.as_of_month == done.as_of_month
        assert {m: len(f) > 0 for m, f in facts.by_measure.items()} == dict.fromkeys(
            CERTIFICATE_MEASURES + CONTRACT_MEASURES, True
        ), "the generated region exercises every measure"
        compared = 0
        for measures, by in COMBOS:
            for f in filters(done.as_of_month):
                request = tables.authorize(
                    ANALYST,
                    tables.TableRequest(tuple(Measure(m) for m in measures), tuple(Dimension(d) for d in by), **f),
                )
                table = await reads.table(conn, request, threshold=1, max_rows=100_000)
                assert table.suppressed == 0
                start, end = tables.window(request, live.first_month, live.as_of_month)
                cells = {
                    m: expected_cells(facts, m, by, start, end, request.municipality, request.direction)
                    for m in measures
                }
                compared += compare(table, measures, by, cells, published_only=False)
        # a direction filter (contract measures only)
        request = tables.authorize(
            ANALYST,
            tables.TableRequest(
                tuple(Measure(m) for m in CONTRACT_MEASURES), (Dimension.MONTH, Dimension.AGE), direction="ARTS"
            ),
        )
        table = await reads.table(conn, request, threshold=1, max_rows=100_000)
        start, end = tables.window(request, live.first_month, live.as_of_month)
        cells = {m: expected_cells(facts, m, ("MONTH", "AGE"), start, end, None, "ARTS") for m in CONTRACT_MEASURES}
        compared += compare(table, CONTRACT_MEASURES, ("MONTH", "AGE"), cells, published_only=False)
    print(f"\nseed {seed}: {compared} figures equal to the recomputation from raw rows")
    assert compared > 5000


API = """query($m: [AnalyticsMeasure!]!, $by: [AnalyticsDimension!]!, $f: AnalyticsQueryFilter) {
  analytics(measures: $m, by: $by, filter: $f) { columns rows suppressed asOf monthFrom monthTo csvUrl } }"""


async def test_published_figures_through_the_api(db, gql, token, region):
    async with db.connect() as conn:
        facts = await load_facts(conn, region.as_of_month)
    analyst = token("ANALYST", "an")
    for measures, by in [
        (("CHILDREN_ENROLLED", "SPENT", "AVERAGE_COMPLETENESS"), ("MUNICIPALITY", "DIRECTION")),
        (("ENROLLMENTS", "RESERVED"), ("MONTH", "AGE")),
        (("CERTIFICATES", "FUNDED_CERTIFICATES", "CREDITED"), ("MONTH", "MUNICIPALITY")),
        (("SPENT",), ("PROVIDER", "FUNDING_KIND")),
    ]:
        body = await gql(API, {"m": list(measures), "by": list(by), "f": None}, token=analyst)
        assert "errors" not in body, body
        t = body["data"]["analytics"]
        assert t["columns"] == list(by) + list(measures)
        assert t["asOf"] is not None
        start, end = date.fromisoformat(t["monthFrom"]), date.fromisoformat(t["monthTo"])
        assert end == region.as_of_month
        cells = {m: expected_cells(facts, m, by, start, end) for m in measures}
        table = tables.Table(columns=t["columns"], rows=t["rows"], suppressed=t["suppressed"], as_of=None)
        compare(table, measures, by, cells, published_only=True)
        withheld = sum(v is None for row in t["rows"] for v in row[len(by) :])
        nulls_of_averages = sum(
            1
            for row in t["rows"]
            for i, m in enumerate(measures)
            if m == "AVERAGE_COMPLETENESS"
            and row[len(by) + i] is None
            and figure(m, cells[m].get(tuple(row[: len(by)]))) is None
        )
        assert t["suppressed"] == withheld - nulls_of_averages
        for row in t["rows"]:
            key = tuple(row[: len(by)])
            for i, m in enumerate(measures):
                if row[len(by) + i] is not None and key in cells[m]:
                    # a published figure has at least 5 distinct children behind it (over the whole range)
                    assert len(cells[m][key].children) >= 5, (m, key, row)
        again = await gql(API, {"m": list(measures), "by": list(by), "f": None}, token=analyst)
        assert again["data"]["analytics"]["rows"] == t["rows"], "rows in a stable order"
