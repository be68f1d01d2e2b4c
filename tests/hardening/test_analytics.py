"""Analysts read aggregates only, with rows behind fewer than 5 children suppressed."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text

from pdo_graph.db.session import transaction
from pdo_graph.domain import enrollment
from pdo_graph.domain.access import Actor
from pdo_graph.domain.money import add_months
from tests.enrollment.conftest import PROVIDER_INN, add_group, add_program, add_provider, bulk_certificates, open_period

Q = """query($m: Date!, $muni: String) { analyticsSummary(filter: {monthFrom: $m, monthTo: $m, municipality: $muni}) {
  direction municipality month suppressed children enrollments spent { kopecks } } }"""


async def enrol_and_charge(db, subjects_certs, group_id: int, provider_id: int, month: date) -> None:
    provider = Actor.provider("staff", provider_id)
    ids = []
    for subject, cert in subjects_certs:
        guardian = Actor.guardian(subject)

        async def work(conn, guardian=guardian, cert=cert):
            eid = await enrollment.create(conn, guardian, cert, group_id, f"k-{cert}", date.today())
            await enrollment.accept(conn, provider, eid, 5)
            return eid

        ids.append(await transaction(db, work))
    lines = [enrollment.ProvisionLine(eid, 100) for eid in ids]
    await transaction(db, lambda c: enrollment.report_provision(c, provider, month, lines, date.today()))


async def test_analytics_aggregates_and_suppression(db, gql, token):
    today = date.today()
    month = today.replace(day=1)
    provider = await add_provider(db)
    tech = await add_program(db, provider)
    arts = await add_program(db, provider, title="Вокал")
    async with db.begin() as conn:
        await conn.execute(text("UPDATE programs SET direction = 'ARTS' WHERE id = :p"), {"p": arts})
    ends = add_months(month, 3) - timedelta(days=1)
    tech_group = await add_group(db, tech, starts_on=month, ends_on=ends, price=300_000)
    arts_group = await add_group(db, arts, starts_on=month, ends_on=ends, price=300_000)
    many = await bulk_certificates(db, 6, prefix="t")
    few = await bulk_certificates(db, 3, prefix="a", age=11)
    await open_period(db)  # credits them
    await enrol_and_charge(db, many, tech_group, provider, month)
    await enrol_and_charge(db, few, arts_group, provider, month)

    body = await gql(Q, {"m": month.isoformat(), "muni": None}, token=token("ANALYST", "analyst"))
    rows = {r["direction"]: r for r in body["data"]["analyticsSummary"]}
    assert rows["TECHNICAL"] == {
        "direction": "TECHNICAL",
        "municipality": "01",
        "month": month.isoformat(),
        "suppressed": False,
        "children": 6,
        "enrollments": 6,
        "spent": {"kopecks": 6 * 100_000},
    }
    assert rows["ARTS"]["suppressed"] is True
    assert rows["ARTS"]["children"] is None and rows["ARTS"]["spent"] is None

    operator = await gql(Q, {"m": month.isoformat(), "muni": "01"}, token=token("OPERATOR", "op", municipality="01"))
    assert {r["direction"] for r in operator["data"]["analyticsSummary"]} == {"TECHNICAL", "ARTS"}
    foreign = await gql(Q, {"m": month.isoformat(), "muni": "01"}, token=token("OPERATOR", "op2", municipality="02"))
    assert foreign["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for who in (token("GUARDIAN", "t0"), token("PROVIDER", "staff", provider=PROVIDER_INN)):
        denied = await gql(Q, {"m": month.isoformat(), "muni": None}, token=who)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await gql(Q, {"m": month.isoformat(), "muni": None})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_months_out_of_range_are_refused_not_failed(gql, token, db):
    analyst = token("ANALYST", "analyst")
    query = """query($f: Date!, $t: Date!) { analyticsSummary(filter: {monthFrom: $f, monthTo: $t}) { month } }"""
    for start, end, field in (
        ("2025-01-01", "9999-12-01", ["filter", "monthTo"]),
        ("0001-01-01", "2025-01-01", ["filter", "monthFrom"]),
        ("2020-01-01", "2025-01-01", ["filter", "monthTo"]),  # more than 36 months
    ):
        body = await gql(query, {"f": start, "t": end}, token=analyst)
        assert body["data"] is None
        assert body["errors"][0]["extensions"] == {
            "code": "INVALID",
            "field": field,
            "requestId": body["extensions"]["requestId"],
        }, body
    ok = await gql(query, {"f": "2024-01-01", "t": "2026-12-31"}, token=analyst)
    assert ok["data"] == {"analyticsSummary": []}
