"""Funding periods through the API: credit once, proration, the limit queue, expiry at close."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from sqlalchemy import text

from pdo_graph.db.session import transaction
from pdo_graph.domain import periods
from pdo_graph.domain.access import Actor
from pdo_graph.domain.errors import DomainError
from pdo_graph.domain.money import add_months, months_between, prorate
from tests.helpers import new_certificate, open_period

NOMINALS = [(5, 13, 2_000_000), (14, 17, 3_000_000)]  # 20 000 ₽ and 30 000 ₽

CERT_Q = """query($n: String!) { certificateByNumber(number: $n) {
  balance { credited { kopecks amount } reserved { kopecks } spent { kopecks } available { kopecks } }
  funding { state queuePosition nominal { kopecks } }
  transactions(first: 10) { totalCount edges { node { kind amount { kopecks } description } } }
} }"""


def this_year() -> tuple[date, date]:
    today = date.today()
    return today - timedelta(days=30), today + timedelta(days=300)


async def cert_view(gql, token, subject: str, number: str) -> dict:
    body = await gql(CERT_Q, {"n": number}, token=token("GUARDIAN", subject))
    return body["data"]["certificateByNumber"]


async def test_open_credits_each_active_certificate_once(gql, token):
    young = await new_certificate(gql, token, "alice", "Волков Максим Андреевич", 9)
    teen = await new_certificate(gql, token, "bob", "Зайцева Ольга Игоревна", 15)
    other = await new_certificate(gql, token, "carol", "Лебедев Глеб Романович", 10, municipality="02")
    starts, ends = this_year()
    opened = await open_period(gql, token, "01", starts, ends, NOMINALS)
    assert opened["userErrors"] == []
    assert opened["certificatesCredited"] == 2
    assert opened["credited"] == {"kopecks": 5_000_000, "amount": "50000.00"}

    again = await open_period(gql, token, "01", starts, ends, NOMINALS)
    assert again["period"]["id"] == opened["period"]["id"]
    assert again["certificatesCredited"] == 0 and again["credited"]["kopecks"] == 0

    view = await cert_view(gql, token, "alice", young["number"])
    assert view["balance"]["credited"] == {"kopecks": 2_000_000, "amount": "20000.00"}
    assert view["balance"]["available"]["kopecks"] == 2_000_000
    assert view["funding"]["state"] == "FUNDED"
    tx = view["transactions"]
    assert tx["totalCount"] == 1
    assert tx["edges"][0]["node"]["kind"] == "CREDIT"
    assert "Зачисление" in tx["edges"][0]["node"]["description"]
    assert (await cert_view(gql, token, "bob", teen["number"]))["balance"]["credited"]["kopecks"] == 3_000_000
    assert (await cert_view(gql, token, "carol", other["number"]))["balance"]["credited"]["kopecks"] == 0


async def test_overlap_and_validation_refused(gql, token):
    starts, ends = this_year()
    assert (await open_period(gql, token, "01", starts, ends, NOMINALS))["userErrors"] == []
    overlap = await open_period(gql, token, "01", starts + timedelta(days=10), ends + timedelta(days=10), NOMINALS)
    assert overlap["userErrors"][0]["code"] == "INVALID"
    assert "пересекается" in overlap["userErrors"][0]["message"]
    bad = await open_period(gql, token, "02", ends, starts, [(5, 13, -1)])
    assert {e["field"][1] for e in bad["userErrors"]} == {"endsOn", "nominals"}
    bands = await open_period(gql, token, "02", starts, ends, [(5, 13, 1), (12, 17, 1)])
    assert bands["userErrors"][0]["field"] == ["input", "nominals"]


async def test_concurrent_opens_credit_once(db, gql, token):
    for i in range(6):
        await new_certificate(gql, token, f"g{i}", f"Ребёнок Номер{i} Тестович", 8 + i)
    starts, ends = this_year()
    operator = Actor.operator("op", "01")
    req = periods.PeriodRequest("01", starts, ends, [periods.Nominal(5, 17, 1_500_000)])

    async def one() -> periods.OpenResult:
        return await transaction(db, lambda c: periods.open_period(c, operator, req))

    results = await asyncio.gather(*(one() for _ in range(10)))
    assert sum(r.certificates_credited for r in results) == 6
    assert len({r.period_id for r in results}) == 1
    async with db.connect() as conn:
        credits = (
            await conn.execute(text("SELECT count(*), sum(amount) FROM ledger_entries WHERE kind = 'CREDIT'"))
        ).one()
    assert tuple(credits) == (6, 9_000_000)


async def test_mid_period_certificate_is_prorated(gql, token):
    today = date.today()
    starts = add_months(today, -3)
    ends = add_months(today, 9) - timedelta(days=1)
    opened = await open_period(gql, token, "01", starts, ends, NOMINALS, proration="PRORATED_MONTHLY")
    assert opened["certificatesCredited"] == 0
    cert = await new_certificate(gql, token, "alice", "Соколова Вера Львовна", 10)
    total, left = months_between(starts, ends), months_between(today, ends)
    expected = prorate(2_000_000, left, total)
    assert expected < 2_000_000
    assert cert["balance"]["credited"]["kopecks"] == expected
    # FULL rule: a certificate issued mid-period gets the whole nominal
    await open_period(gql, token, "02", starts, ends, NOMINALS, proration="FULL")
    full = await new_certificate(gql, token, "bob", "Соколов Лев Львович", 10, municipality="02")
    assert full["balance"]["credited"]["kopecks"] == 2_000_000


UPDATE = """mutation($id: ID!, $limit: Int) { fundingPeriodUpdate(input: {periodId: $id, fundedCertificateLimit: $limit}) {
  credited { kopecks } userErrors { code } } }"""
CLOSE = """mutation($id: ID!) { fundingPeriodClose(input: {periodId: $id}) {
  period { closed openForApplications } expired { kopecks } userErrors { code } } }"""


async def test_limit_queue_in_first_come_order(gql, token):
    certs = [await new_certificate(gql, token, f"g{i}", f"Очередь Ребёнок{i} Тестович", 9) for i in range(5)]
    starts, ends = this_year()
    opened = await open_period(gql, token, "01", starts, ends, NOMINALS, limit=2)
    assert opened["certificatesCredited"] == 2
    states = [(await cert_view(gql, token, f"g{i}", c["number"]))["funding"] for i, c in enumerate(certs)]
    assert [s["state"] for s in states] == ["FUNDED", "FUNDED", "QUEUED", "QUEUED", "QUEUED"]
    assert [s["queuePosition"] for s in states[2:]] == [1, 2, 3]
    late = await new_certificate(gql, token, "late", "Поздний Ребёнок Тестович", 9)
    assert (await cert_view(gql, token, "late", late["number"]))["funding"]["queuePosition"] == 4

    op = token("OPERATOR", "op", municipality="01")
    raised = await gql(UPDATE, {"id": opened["period"]["id"], "limit": 4}, token=op)
    assert raised["data"]["fundingPeriodUpdate"]["credited"]["kopecks"] == 2 * 2_000_000
    states = [(await cert_view(gql, token, f"g{i}", c["number"]))["funding"] for i, c in enumerate(certs)]
    assert [s["state"] for s in states] == ["FUNDED"] * 4 + ["QUEUED"]
    assert (await cert_view(gql, token, "late", late["number"]))["funding"]["queuePosition"] == 2
    foreign = await gql(
        UPDATE, {"id": opened["period"]["id"], "limit": 10}, token=token("OPERATOR", "x", municipality="02")
    )
    assert foreign["data"]["fundingPeriodUpdate"]["userErrors"][0]["code"] == "FORBIDDEN"


async def test_close_expires_what_is_left(gql, token):
    cert = await new_certificate(gql, token, "alice", "Морозов Кирилл Денисович", 12)
    starts, ends = this_year()
    opened = await open_period(gql, token, "01", starts, ends, NOMINALS)
    op = token("OPERATOR", "op", municipality="01")
    closed = await gql(CLOSE, {"id": opened["period"]["id"]}, token=op)
    result = closed["data"]["fundingPeriodClose"]
    assert result["userErrors"] == []
    assert result["expired"]["kopecks"] == 2_000_000
    assert result["period"] == {"closed": True, "openForApplications": False}
    again = await gql(CLOSE, {"id": opened["period"]["id"]}, token=op)
    assert again["data"]["fundingPeriodClose"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    body = await gql(
        """query($n: String!) { certificateByNumber(number: $n) {
        transactions(first: 1) { edges { node { kind amount { kopecks } description } } } } }""",
        {"n": cert["number"]},
        token=token("GUARDIAN", "alice"),
    )
    node = body["data"]["certificateByNumber"]["transactions"]["edges"][0]["node"]
    assert node["kind"] == "EXPIRE" and node["amount"]["kopecks"] == 2_000_000
    assert "сгорел" in node["description"]


async def test_domain_refuses_foreign_operator(db):
    operator = Actor.operator("op", "02")
    req = periods.PeriodRequest("01", date(2030, 1, 1), date(2030, 12, 31), [periods.Nominal(5, 17, 1)])
    try:
        await transaction(db, lambda c: periods.open_period(c, operator, req))
    except DomainError as exc:
        assert exc.problems[0].code == "FORBIDDEN"
    else:
        raise AssertionError("expected FORBIDDEN")


async def test_period_dates_are_bounded_to_the_years_2000_to_2100(gql, token):
    bad = await open_period(gql, token, "01", date(1999, 12, 31), date(9999, 12, 31), NOMINALS)
    assert bad["period"] is None
    assert [(e["code"], e["field"]) for e in bad["userErrors"]] == [
        ("INVALID", ["input", "startsOn"]),
        ("INVALID", ["input", "endsOn"]),
    ]
    assert bad["userErrors"][0]["message"] == "Дата должна приходиться на 2000–2100 годы"
    body = await gql(
        """mutation { fundingPeriodOpen(input: {municipality: "01", startsOn: "2026-01-01", endsOn: "2101-01-01",
        nominals: [{minAge: 5, maxAge: 17, kopecks: 1}]}) { period { id } userErrors { code field message } } }""",
        token=token("OPERATOR", "op-01", municipality="01"),
        lang="en",
    )
    assert body["data"]["fundingPeriodOpen"]["userErrors"] == [
        {
            "code": "INVALID",
            "field": ["input", "endsOn"],
            "message": "The date must fall within the years 2000-2100",
        }
    ]
    edges = await open_period(gql, token, "02", date(2000, 1, 1), date(2100, 12, 31), NOMINALS)
    assert edges["userErrors"] == [] and edges["period"]["endsOn"] == "2100-12-31"
