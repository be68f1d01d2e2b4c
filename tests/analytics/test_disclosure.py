"""Disclosure control: no withheld cell can be recovered, and no more is withheld than needed.

The attacker (tests/analytics/attacks.py) subtracts along every dimension from every published
total, repeatedly, and solves the whole linear system of the published cells of every level; both
must recover nothing. Run on random 1-, 2- and 3-dimensional tables (hypothesis) and on the tables
the API publishes for a generated region. Primary suppression alone is shown to leak on the same
tables, so the attack is a real one.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdo_graph.demo.region import Region
from pdo_graph.domain.analytics.disclosure import Cell, all_levels, protect
from tests.analytics.attacks import peel, project, solve
from tests.analytics.conftest import make_region
from tests.analytics.expected import STOCKS, expected_cells, load_facts

THRESHOLD = 5


def lattice(fine: dict[tuple[Any, ...], int], dims: int) -> dict[tuple[int, ...], dict[tuple[Any, ...], Cell]]:
    """Every level of an additive count table (children = the count)."""
    finest = tuple(range(dims))
    out: dict[tuple[int, ...], dict[tuple[Any, ...], Cell]] = {}
    for level in all_levels(dims):
        sums: dict[tuple[Any, ...], int] = {}
        for key, value in fine.items():
            k = project(key, finest, level)
            sums[k] = sums.get(k, 0) + value
        out[level] = {k: Cell(v, v) for k, v in sums.items()}
    return out


def published(cells: dict, protection: Any) -> dict:
    table = {
        level: {k: (None if protection.is_withheld(level, k) else c.value) for k, c in level_cells.items()}
        for level, level_cells in cells.items()
    }
    for level, keys in protection.empty.items():
        for k in keys:
            table[level][k] = None
    return table


@st.composite
def tables(draw: Any) -> tuple[int, dict[tuple[Any, ...], int]]:
    dims = draw(st.integers(1, 3))
    sizes = [draw(st.integers(2, 6 if dims < 3 else 4)) for _ in range(dims)]
    density = draw(st.floats(0.3, 1.0))
    fine: dict[tuple[Any, ...], int] = {}
    for key in itertools.product(*(range(s) for s in sizes)):
        if draw(st.floats(0, 1)) < density:
            small = draw(st.booleans()) and draw(st.booleans())
            fine[key] = draw(st.integers(1, THRESHOLD - 1) if small else st.integers(THRESHOLD, 60))
    return dims, fine


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_no_withheld_cell_of_a_random_table_can_be_recovered(table):
    dims, fine = table
    cells = lattice(fine, dims)
    protection = protect(dims, cells, THRESHOLD)
    for level, level_cells in cells.items():
        for key, cell in level_cells.items():
            if cell.children < THRESHOLD:
                assert protection.is_withheld(level, key), "a small cell is published"
    shown = published(cells, protection)
    assert peel(dims, shown) == {}
    assert solve(dims, shown) == set()


def test_the_attack_recovers_cells_that_primary_suppression_alone_leaves():
    fine = {(0, 0): 3, (0, 1): 20, (1, 0): 30, (1, 1): 40, (2, 0): 8, (2, 1): 2}
    cells = lattice(fine, 2)
    naive = {lv: {k: (None if c.children < THRESHOLD else c.value) for k, c in cs.items()} for lv, cs in cells.items()}
    recovered = peel(2, naive)
    assert recovered[((0, 1), (0, 0))] == 3 and recovered[((0, 1), (2, 1))] == 2
    assert ((0, 1), (0, 0)) in solve(2, naive)


def test_one_small_cell_of_a_two_dimensional_table_costs_three_partners():
    """The least possible: its row partner, its column partner and the opposite corner, the smallest ones."""
    fine = {(r, c): 50 + 10 * r + c for r in range(4) for c in range(3)}
    fine[(1, 1)] = 2
    fine[(3, 2)] = 7  # the cheapest column partner and row partner meet here
    fine[(1, 2)] = 9
    fine[(3, 1)] = 8
    cells = lattice(fine, 2)
    protection = protect(2, cells, THRESHOLD)
    assert protection.withheld == {(0, 1): {(1, 1), (1, 2), (3, 1), (3, 2)}}


def test_a_table_without_small_cells_withholds_nothing():
    fine = {(r, c): 5 + r * c for r in range(5) for c in range(4)}
    protection = protect(2, lattice(fine, 2), THRESHOLD)
    assert protection.withheld == {}


def test_a_small_margin_is_protected_in_its_own_level_and_below():
    """A municipality with 4 children in all: its total, its cells, and a partner municipality's."""
    fine = {("01", d): 20 for d in "abc"} | {("02", d): 15 for d in "abc"} | {("03", "a"): 3, ("03", "b"): 1}
    cells = lattice(fine, 2)
    protection = protect(2, cells, THRESHOLD)
    assert ("03",) in protection.withheld[(0,)] and len(protection.withheld[(0,)]) == 2
    shown = published(cells, protection)
    assert solve(2, shown) == set() and peel(2, shown) == {}


# --- the tables of the API ----------------------------------------------------------------------

QUERY = """query($m: [AnalyticsMeasure!]!, $by: [AnalyticsDimension!]!, $f: AnalyticsQueryFilter) {
  analytics(measures: $m, by: $by, filter: $f) { columns rows suppressed monthFrom monthTo } }"""

API_TABLES = [
    (["SPENT", "ENROLLMENTS", "CHILDREN_ENROLLED"], ["MUNICIPALITY", "DIRECTION"], None),
    (["SPENT", "ENROLLMENTS"], ["PROVIDER", "AGE"], None),
    (["CREDITED", "CERTIFICATES", "EXPIRED"], ["MONTH", "MUNICIPALITY"], None),
    (["RESERVED", "CHILDREN_ENROLLED", "FUNDED_CERTIFICATES"], ["MONTH", "AGE"], None),
    (["SPENT", "ENROLLMENTS"], ["DIRECTION", "AGE", "FUNDING_KIND"], None),
    (["SPENT", "CHILDREN_ENROLLED"], ["MUNICIPALITY", "MONTH", "DIRECTION"], {"monthFrom": "ANCHOR"}),
    (["QUEUED_CERTIFICATES", "FUNDED_CERTIFICATES"], ["AGE", "MUNICIPALITY"], None),
]


def number(value: str) -> int:
    return int(value.replace(".", "")) if "." in value else int(value)


def attack_tables(t: dict[str, Any], by: list[str], measures: list[str]) -> list[tuple[str, int, dict]]:
    """The API table as the attacker's lattices: one per additive measure (per month for a stock by
    MONTH, whose total over months is just the last month again)."""
    out = []
    for i, m in enumerate(measures):
        if m == "AVERAGE_COMPLETENESS":
            continue
        stock_by_month = m in STOCKS and "MONTH" in by
        dims = [d for d in by if not (stock_by_month and d == "MONTH")]
        slices: dict[Any, dict] = {}
        for row in t["rows"]:
            values = dict(zip(by, row[: len(by)], strict=True))
            if stock_by_month:
                if values["MONTH"] is None:
                    continue
                slice_key = values["MONTH"]
            else:
                slice_key = None
            level = tuple(j for j, d in enumerate(dims) if values[d] is not None)
            key = tuple(values[dims[j]] for j in level)
            figure = row[len(by) + i]
            slices.setdefault(slice_key, {lv: {} for lv in all_levels(len(dims))})[level][key] = (
                None if figure is None else number(figure)
            )
        out += [(m, len(dims), table) for table in slices.values()]
    return out


async def test_no_withheld_figure_of_an_api_table_can_be_recovered(db, gql, token, region):
    analyst = token("ANALYST", "an")
    anchor = date(region.as_of_month.year - 1, region.as_of_month.month, 1).isoformat()
    withheld = attacked = 0
    naive_leaks = 0
    async with db.connect() as conn:
        facts = await load_facts(conn, region.as_of_month)
    for measures, by, f in API_TABLES:
        if f and f.get("monthFrom") == "ANCHOR":
            f = {"monthFrom": anchor}
        body = await gql(QUERY, {"m": measures, "by": by, "f": f}, token=analyst)
        assert "errors" not in body, body
        t = body["data"]["analytics"]
        withheld += t["suppressed"]
        start, end = date.fromisoformat(t["monthFrom"]), date.fromisoformat(t["monthTo"])
        for m, dims, table in attack_tables(t, by, measures):
            attacked += 1
            assert peel(dims, table) == {}, f"{m} by {by}: recovered by subtraction"
            assert solve(dims, table) == set(), f"{m} by {by}: determined by the linear system"
        # the same tables with the complementary cells shown (only cells behind < 5 children withheld)
        for i, m in enumerate(measures):
            if m in STOCKS or m == "AVERAGE_COMPLETENESS":
                continue
            cells = expected_cells(facts, m, tuple(by), start, end)
            rows = []
            for row in t["rows"]:
                key = tuple(row[: len(by)])
                cell = cells.get(key)
                value = row[len(by) + i]
                if value is None and cell is not None and len(cell.children) >= THRESHOLD:
                    value = str(cell.value)  # a complementary cell, shown
                rows.append([*key, value])
            for _, dims, table in attack_tables({"rows": rows}, by, [m]):
                naive_leaks += bool(solve(dims, table))
    print(
        f"\n{attacked} published lattices attacked, {withheld} withheld figures, none recovered; "
        f"primary suppression alone would leak in {naive_leaks} of them"
    )
    assert withheld > 0 and naive_leaks > 0


SHARE_TABLES = [
    (["SPENT"], ["MUNICIPALITY", "DIRECTION"]),
    (["ENROLLMENTS"], ["AGE", "DIRECTION"]),
    (["SPENT"], ["MONTH", "DIRECTION"]),
    (["CREDITED"], ["MONTH", "MUNICIPALITY"]),
    (["SPENT"], ["PROVIDER", "FUNDING_KIND"]),
    (["ENROLLMENTS"], ["MUNICIPALITY", "AGE"]),
    (["SPENT"], ["PROVIDER", "AGE"]),
    (["CHILDREN_ENROLLED"], ["DIRECTION", "AGE"]),
]


TYPICAL = Region(
    municipalities=5, certificates=5000, providers=25, programs_per_provider=4, years=3, enrollment_rate=0.3, seed=0.5
)


@pytest.mark.slow  # a region of 5 000 certificates and its typical tables (about 7 s)
async def test_suppression_hides_no_more_than_it_must(db, gql, token):
    """In typical tables: the share withheld, how much of it is complementary, and whether each
    complementary cell is needed (shown alone, some withheld cell would become derivable)."""
    region = await make_region(db, TYPICAL)
    analyst = token("ANALYST", "an")
    async with db.connect() as conn:
        facts = await load_facts(conn, region.as_of_month)
    totals = {"figures": 0, "primary": 0, "complementary": 0, "needed": 0}
    for measures, by in SHARE_TABLES:
        body = await gql(QUERY, {"m": measures, "by": by, "f": None}, token=analyst)
        t = body["data"]["analytics"]
        start, end = date.fromisoformat(t["monthFrom"]), date.fromisoformat(t["monthTo"])
        cells = expected_cells(facts, measures[0], tuple(by), start, end)
        rows = [list(r) for r in t["rows"]]
        complementary = []
        primary = 0
        for n, row in enumerate(rows):
            if row[-1] is not None:
                continue
            cell = cells.get(tuple(row[: len(by)]))
            if cell is None or len(cell.children) < THRESHOLD:
                primary += 1
            else:
                complementary.append((n, str(cell.value)))
        needed = 0
        for n, value in complementary:
            trial = [list(r) for r in rows]
            trial[n][-1] = value
            (_, dims, table), *_ = attack_tables({"rows": trial}, by, measures)
            needed += bool(solve(dims, table) or peel(dims, table))
        share = (primary + len(complementary)) / len(rows)
        print(
            f"\n{measures[0]} by {' x '.join(by)}: {len(rows)} figures, withheld {share:.1%} "
            f"(primary {primary}, complementary {len(complementary)}, of which needed {needed})"
        )
        totals["figures"] += len(rows)
        totals["primary"] += primary
        totals["complementary"] += len(complementary)
        totals["needed"] += needed
        assert len(complementary) <= 3 * max(primary, 1) + 3
    print(f"all: {totals}")
    assert totals["needed"] >= 2 * totals["complementary"] / 3
