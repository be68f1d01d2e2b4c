"""The operator's year through the API, with the clock moved by the test: contracts inside their period,
balances across periods, statements to the payer (issue, CSV), carry-over, prolongation and consent."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from sqlalchemy import text

from pdo_graph import clock
from tests.enrollment.conftest import (
    ACCEPT,
    CREATE,
    PROVIDER_INN,
    REPORT,
    add_group,
    add_program,
    add_provider,
    bulk_certificates,
    gid,
    provider_token,
)
from tests.year.test_closing_job import open_period

STATEMENTS = """query($month: Date!, $m: String) { settlementStatements(month: $month, municipality: $m) {
  id number status month total { kopecks } payer { code } provider { inn } csvUrl
  lines { certificateNumber completeness amount { kopecks } enrollment { id } } } }"""
ISSUE = """mutation($id: ID!) { settlementStatementIssue(input: {statementId: $id}) {
  statement { number status total { kopecks } } userErrors { code message } } }"""
QUOTE = """query($c: ID!, $g: ID!) { quote(certificateId: $c, groupId: $g) {
  price { kopecks } fromCertificate { kopecks } fromFamily { kopecks } firstMonth months userErrors { code } } }"""
BALANCES = """query($id: ID!) { node(id: $id) { ... on Certificate {
  balance { credited { kopecks } reserved { kopecks } available { kopecks } carried { kopecks } }
  balances { period { startsOn closed unusedFunds } credited { kopecks } reserved { kopecks } spent { kopecks }
             expired { kopecks } carried { kopecks } available { kopecks } } } } }"""
CLOSE = """mutation($id: ID!) { fundingPeriodClose(input: {periodId: $id}) {
  period { closed } expired { kopecks } carried { kopecks } userErrors { code } } }"""
PROLONG = """mutation($p: ID!, $ids: [ID!]) { contractsProlong(input: {periodId: $p, enrollmentIds: $ids}) {
  prolonged { id status months price { kopecks } fromFamily { kopecks } period { startsOn } } userErrors { code } } }"""
CONSENT = """mutation($id: ID!, $f: SafeInt!) { enrollmentConsent(input: {enrollmentId: $id, expectedFromFamily: $f}) {
  enrollment { status } userErrors { code message } } }"""


def data(body):
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


@pytest.fixture
def fixed():
    with clock.use(clock.FixedClock.on(date(2030, 9, 10))) as c:
        yield c


async def enroll(gql, token, subject, cert, group, key="k") -> str:
    created = data(
        await gql(
            CREATE,
            {"c": gid("Certificate", cert), "g": gid("Group", group), "k": key},
            token=token("GUARDIAN", subject),
        )
    )
    assert created["userErrors"] == [], created
    accepted = data(await gql(ACCEPT, {"id": created["enrollment"]["id"]}, token=provider_token(token)))
    assert accepted["userErrors"] == []
    return str(created["enrollment"]["id"])


async def test_statements_belong_to_the_payer(gql, token, db, app, fixed):
    ((a_subject, a),) = await bulk_certificates(db, 1, "01", prefix="a", today=date(2030, 9, 1))
    ((b_subject, b),) = await bulk_certificates(db, 1, "02", prefix="b", today=date(2030, 9, 1))
    p01 = await open_period(db, "01")
    await open_period(db, "02")
    program = await add_program(db, await add_provider(db))  # the provider is in 01
    group = await add_group(db, program, starts_on=date(2030, 9, 1), ends_on=date(2031, 12, 31), price=1_600_000)

    # the contract covers the group's months inside the period only: September to May, 9 of 16
    quote = data(
        await gql(QUOTE, {"c": gid("Certificate", a), "g": gid("Group", group)}, token=token("GUARDIAN", a_subject))
    )
    assert (quote["firstMonth"], quote["months"], quote["price"]["kopecks"]) == ("2030-09-01", 9, 900_000)
    ea = await enroll(gql, token, a_subject, a, group, "ka")
    eb = await enroll(gql, token, b_subject, b, group, "kb")
    fixed.set_day(date(2030, 9, 25))
    items = [{"enrollmentId": ea, "completeness": 100}, {"enrollmentId": eb, "completeness": 50}]
    assert (
        data(await gql(REPORT, {"month": "2030-09-01", "items": items}, token=provider_token(token)))["userErrors"]
        == []
    )

    op01, op02 = token("OPERATOR", "op-01", municipality="01"), token("OPERATOR", "op-02", municipality="02")
    [s01] = data(await gql(STATEMENTS, {"month": "2030-09-15"}, token=op01))
    [s02] = data(await gql(STATEMENTS, {"month": "2030-09-01"}, token=op02))
    assert (s01["payer"]["code"], s01["status"], s01["number"], s01["total"]["kopecks"]) == (
        "01",
        "DRAFT",
        None,
        100_000,
    )
    assert (s02["payer"]["code"], s02["total"]["kopecks"], s02["provider"]["inn"]) == ("02", 50_000, PROVIDER_INN)
    assert [(line["completeness"], line["amount"]["kopecks"], line["enrollment"]["id"]) for line in s02["lines"]] == [
        (50, 50_000, eb)
    ]
    # another municipality's statements are not the operator's; the provider sees its own as payee
    assert "errors" in await gql(STATEMENTS, {"month": "2030-09-01", "m": "01"}, token=op02)
    mine = data(await gql(STATEMENTS, {"month": "2030-09-01"}, token=provider_token(token)))
    assert sorted(s["payer"]["code"] for s in mine) == ["01", "02"]
    only = data(await gql(STATEMENTS, {"month": "2030-09-01", "m": "02"}, token=provider_token(token)))
    assert [s["id"] for s in only] == [s02["id"]]

    # issued only once the month can no longer be reported, by the payer's operator, once
    fixed.set_day(date(2030, 10, 31))
    early = data(await gql(ISSUE, {"id": s01["id"]}, token=op01))
    assert [e["code"] for e in early["userErrors"]] == ["INVALID_TRANSITION"]
    fixed.set_day(date(2030, 11, 1))
    late = data(await gql(REPORT, {"month": "2030-09-01", "items": items}, token=provider_token(token)))
    assert [e["code"] for e in late["userErrors"]] == ["INVALID", "INVALID"]
    assert [e["code"] for e in data(await gql(ISSUE, {"id": s01["id"]}, token=op02))["userErrors"]] == ["FORBIDDEN"]
    issued = data(await gql(ISSUE, {"id": s01["id"]}, token=op01))
    assert issued["userErrors"] == [] and issued["statement"] == {
        "number": "2030-01-00001",
        "status": "ISSUED",
        "total": {"kopecks": 100_000},
    }
    assert [e["code"] for e in data(await gql(ISSUE, {"id": s01["id"]}, token=op01))["userErrors"]] == [
        "INVALID_TRANSITION"
    ]
    assert data(await gql(ISSUE, {"id": s02["id"]}, token=op02))["statement"]["number"] == "2030-02-00001"

    # the CSV an accountant opens: UTF-8 with BOM, ';', kopecks and roubles
    [s01] = data(await gql(STATEMENTS, {"month": "2030-09-01"}, token=op01))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        csv = await client.get(s01["csvUrl"])
        forged = await client.get(s01["csvUrl"][:-3] + "xyz")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    body = csv.content.decode("utf-8")
    assert body.startswith("\ufeffАкт;2030-01-00001\r\n")
    assert "Итого;;;;;100000;1000,00" in body and ";100;100000;1000,00" in body
    assert forged.status_code == 403

    # balances: the open period's, and every period's
    balances = data(await gql(BALANCES, {"id": gid("Certificate", a)}, token=token("GUARDIAN", a_subject)))
    assert balances["balance"]["reserved"]["kopecks"] == 800_000
    [only_period] = balances["balances"]
    assert only_period["period"]["startsOn"] == "2030-09-01" and only_period["spent"]["kopecks"] == 100_000
    closed = data(await gql(CLOSE, {"id": gid("FundingPeriod", p01)}, token=op01))
    assert closed["userErrors"] == [] and closed["expired"]["kopecks"] == 3_000_000 - 100_000
    balances = data(await gql(BALANCES, {"id": gid("Certificate", a)}, token=token("GUARDIAN", a_subject)))
    assert balances["balance"] == {
        "credited": {"kopecks": 0},
        "reserved": {"kopecks": 0},
        "available": {"kopecks": 0},
        "carried": {"kopecks": 0},
    }  # between periods
    [after] = balances["balances"]
    assert after["period"]["closed"] is True and after["expired"]["kopecks"] == 2_900_000
    assert after["reserved"]["kopecks"] == after["available"]["kopecks"] == 0


async def test_carry_over_prolongation_and_consent(gql, token, db, settings, fixed):
    (a_subject, a), (b_subject, b) = await bulk_certificates(db, 2, "01", today=date(2030, 9, 1))
    p1 = await open_period(db, carry_over=True)
    program = await add_program(db, await add_provider(db))
    long = await add_group(db, program, starts_on=date(2030, 9, 1), ends_on=date(2031, 12, 31), price=6_400_000)
    short = await add_group(
        db, program, starts_on=date(2030, 9, 1), ends_on=date(2031, 10, 31), price=2_800_000, name="Группа 2"
    )
    ea = await enroll(gql, token, a_subject, a, long, "ka")  # 9 of 16 months: 3 600 000, the family 600 000
    eb = await enroll(gql, token, b_subject, b, short, "kb")  # 9 of 14 months: 1 800 000, the family nothing
    fixed.set_day(date(2031, 5, 20))
    p2 = await open_period(db, starts=date(2031, 9, 1), ends=date(2032, 5, 31))  # opened before the close

    from pdo_graph.jobs import close_due_periods

    fixed.set_day(date(2031, 6, 1))
    closed = await close_due_periods(db, settings)
    assert closed == {"periods_closed": 1, "expired": 0, "carried": 6_000_000}
    # the next period was open already: the carried money is credited at the close
    async with db.connect() as conn:
        moved = (
            await conn.execute(text("SELECT count(*) FROM carry_overs WHERE to_period_id = :p"), {"p": p2})
        ).scalar()
    assert moved == 2
    balances = data(await gql(BALANCES, {"id": gid("Certificate", a)}, token=token("GUARDIAN", a_subject)))["balances"]
    assert [(x["period"]["unusedFunds"], x["credited"]["kopecks"], x["carried"]["kopecks"]) for x in balances] == [
        ("EXPIRE", 6_000_000, 0),
        ("CARRY_OVER", 3_000_000, 3_000_000),
    ]

    fixed.set_day(date(2031, 9, 1))
    staff = provider_token(token)
    assert [
        e["code"]
        for e in data(
            await gql(PROLONG, {"p": gid("FundingPeriod", p2)}, token=token("OPERATOR", "op-02", municipality="02"))
        )["userErrors"]
    ] == ["FORBIDDEN"]
    prolonged = data(await gql(PROLONG, {"p": gid("FundingPeriod", p2)}, token=staff))
    assert prolonged["userErrors"] == []
    by_months = {x["months"]: x for x in prolonged["prolonged"]}
    assert (by_months[4]["status"], by_months[4]["price"]["kopecks"], by_months[4]["fromFamily"]["kopecks"]) == (
        "AWAITING_CONSENT",
        1_600_000,
        0,
    )
    assert (by_months[2]["status"], by_months[2]["price"]["kopecks"]) == ("ACTIVE", 400_000)
    assert {x["period"]["startsOn"] for x in prolonged["prolonged"]} == {"2031-09-01"}
    # idempotent: nothing new; with the ids, the same contracts
    assert data(await gql(PROLONG, {"p": gid("FundingPeriod", p2)}, token=staff))["prolonged"] == []
    again = data(
        await gql(
            PROLONG,
            {"p": gid("FundingPeriod", p2), "ids": [ea, eb]},
            token=token("OPERATOR", "op-01", municipality="01"),
        )
    )
    assert sorted(x["id"] for x in again["prolonged"]) == sorted(x["id"] for x in prolonged["prolonged"])
    # consent: the figure the family saw, else QUOTE_CHANGED with the new figures
    waiting = by_months[4]["id"]
    wrong = data(await gql(CONSENT, {"id": waiting, "f": 600_000}, token=token("GUARDIAN", a_subject)))
    assert [e["code"] for e in wrong["userErrors"]] == ["QUOTE_CHANGED"]
    assert "0.00 ₽" in wrong["userErrors"][0]["message"] and "16000.00" in wrong["userErrors"][0]["message"]
    other = data(await gql(CONSENT, {"id": waiting, "f": 0}, token=token("GUARDIAN", b_subject)))
    assert [e["code"] for e in other["userErrors"]] == ["FORBIDDEN"]
    ok = data(await gql(CONSENT, {"id": waiting, "f": 0}, token=token("GUARDIAN", a_subject)))
    assert ok["userErrors"] == [] and ok["enrollment"]["status"] == "ACTIVE"
    assert p1 != p2
