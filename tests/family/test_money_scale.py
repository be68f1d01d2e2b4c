"""Money beyond 32 bits: totals of a region exceed 21 474 836.47 ₽; kopecks travel as SafeInt."""

from __future__ import annotations

from datetime import date, timedelta

from pdo_graph.domain.periods import MAX_NOMINAL
from tests.enrollment.conftest import bulk_certificates
from tests.helpers import OPEN_PERIOD, open_period

SAFE = 2**53 - 1


async def test_an_opening_that_credits_more_than_2_to_the_31_kopecks_reads_its_result(gql, token, db):
    count = 2**31 // MAX_NOMINAL + 20  # 234 certificates at 100 000 ₽
    await bulk_certificates(db, count, prefix="m")
    today = date.today()
    opened = await open_period(
        gql, token, "01", today - timedelta(days=30), today + timedelta(days=300), [(0, 18, MAX_NOMINAL)]
    )
    assert opened["userErrors"] == []
    assert opened["certificatesCredited"] == count
    total = count * MAX_NOMINAL
    assert total > 2**31
    assert opened["credited"] == {"kopecks": total, "amount": f"{total // 100}.00"}


async def test_safeint_outside_its_range_is_a_clear_error_not_a_server_error(gql, token, db):
    operator = token("OPERATOR", "op-01", municipality="01")
    variables = {
        "input": {
            "municipality": "01",
            "startsOn": "2026-09-01",
            "endsOn": "2027-08-31",
            "nominals": [{"minAge": 5, "maxAge": 17, "kopecks": SAFE + 1}],
        }
    }
    body = await gql(OPEN_PERIOD, variables, token=operator)
    assert "data" not in body or body["data"] is None
    assert "SafeInt" in body["errors"][0]["message"] and "2^53-1" in body["errors"][0]["message"]
    literal = """mutation { fundingPeriodOpen(input: {municipality: "01", startsOn: "2026-09-01", endsOn: "2027-08-31",
      nominals: [{minAge: 5, maxAge: 17, kopecks: 9007199254740992}]}) { userErrors { code } } }"""
    body = await gql(literal, token=operator)
    assert "SafeInt" in body["errors"][0]["message"]
    # within SafeInt but beyond a nominal: the domain's own refusal, with the field
    variables["input"]["nominals"][0]["kopecks"] = SAFE
    refused = (await gql(OPEN_PERIOD, variables, token=operator))["data"]["fundingPeriodOpen"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID", ["input", "nominals"])]
    for wrong in (1.5, "100", True):
        variables["input"]["nominals"][0]["kopecks"] = wrong
        body = await gql(OPEN_PERIOD, variables, token=operator)
        assert "SafeInt" in body["errors"][0]["message"], wrong


async def test_kopeck_filters_take_values_beyond_32_bits(gql, db):
    body = await gql("query($p: SafeInt) { programs(first: 1, filter: {maxPrice: $p}) { totalCount } }", {"p": 2**40})
    assert body["data"]["programs"]["totalCount"] == 0


async def test_period_dates_are_bounded_to_the_years_2000_to_2100(gql, token, db):
    for starts, ends, fields in (
        (date(1999, 12, 31), date(2000, 6, 30), [["input", "startsOn"]]),
        (date(2100, 1, 1), date(2101, 1, 1), [["input", "endsOn"]]),
        (date(1, 1, 1), date(9999, 12, 31), [["input", "startsOn"], ["input", "endsOn"]]),
    ):
        refused = await open_period(gql, token, "01", starts, ends, [(5, 17, 100)])
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID", f) for f in fields]
        assert "2000" in refused["userErrors"][0]["message"]
    ok = await open_period(gql, token, "01", date(2100, 1, 1), date(2100, 12, 31), [(5, 17, 100)])
    assert ok["userErrors"] == []
