"""Monthly provision: charges from the reserve, refusals, settlement, cancellation after charges, completion."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text

from pdo_graph import clock
from pdo_graph.db.session import transaction
from pdo_graph.domain import enrollment
from pdo_graph.domain.access import Actor
from pdo_graph.domain.money import add_months, month_start
from tests.enrollment.conftest import (
    ACCEPT,
    CANCEL,
    NOMINAL,
    OTHER_INN,
    PROVIDER_INN,
    REPORT,
    add_group,
    add_program,
    add_provider,
    balance,
    end_of_month,
    enroll,
    gid,
    pk,
    provider_token,
)
from tests.helpers import new_certificate

THIS_MONTH = month_start(date.today())

SETTLEMENT = """
query($p: ID!, $m: Date!) {
  providerSettlement(providerId: $p, month: $m) { month charged { kopecks } released { kopecks } contracts
    provider { inn } }
}"""

ENROLLMENT = """
query($id: ID!) {
  node(id: $id) { ... on Enrollment { status reserved { kopecks } charged { kopecks }
    charges { kind month completeness amount { kopecks } description }
    monthly { month fromCertificate { kopecks } } } }
}"""


async def running_group(world) -> str:
    """A group that started two months ago, 9 months in all: joined now, 7 months for 700 004 kopecks."""
    group = await add_group(
        world.engine,
        world.program_id,
        starts_on=add_months(THIS_MONTH, -2),
        ends_on=end_of_month(add_months(THIS_MONTH, 6)),
        price=900_005,
        name="Идущая группа",
    )
    return gid("Group", group)


async def running_contract(gql, token, group: str, subject: str, name: str, accept: bool = True) -> tuple[dict, dict]:
    cert = await new_certificate(gql, token, subject, name, 10)
    e = (await enroll(gql, token, subject, cert["id"], group))["enrollment"]
    assert e["fromCertificate"]["kopecks"] == 700_004 and e["months"] == 7
    if accept:
        body = await gql(ACCEPT, {"id": e["id"]}, token=provider_token(token))
        assert body["data"]["r"]["enrollment"]["status"] == "ACTIVE"
    return cert, e


async def report(gql, who: str, month: date, items: list[tuple[str, int]], lang: str | None = None) -> dict:
    body = await gql(
        REPORT,
        {"month": month.isoformat(), "items": [{"enrollmentId": i, "completeness": c} for i, c in items]},
        token=who,
        lang=lang,
    )
    assert "errors" not in body, body
    return body["data"]["provisionReport"]


async def test_monthly_charge_release_settlement_and_cancel(gql, token, world):
    cert, e = await running_contract(gql, token, await running_group(world), "alice", "Смирнов Артём Павлович")
    alice, staff = token("GUARDIAN", "alice"), provider_token(token)
    done = await report(gql, staff, THIS_MONTH, [(e["id"], 80)])
    assert done["userErrors"] == []
    # the first month's share takes the remainder: 100 004; 80 % of it, rounded
    assert done["charged"]["kopecks"] == 80_003 and done["released"]["kopecks"] == 20_001
    assert done["contracts"] == 1
    assert await balance(gql, alice, cert["id"]) == {
        "credited": NOMINAL,
        "reserved": 600_000,
        "spent": 80_003,
        "available": NOMINAL - 680_003,
    }
    seen = (await gql(ENROLLMENT, {"id": e["id"]}, token=alice))["data"]["node"]
    assert seen["charged"]["kopecks"] == 80_003 and seen["reserved"]["kopecks"] == 600_000
    assert [(c["kind"], c["month"], c["completeness"], c["amount"]["kopecks"]) for c in seen["charges"]] == [
        ("CHARGE", THIS_MONTH.isoformat(), 80, 80_003)
    ]
    assert "80%" in seen["charges"][0]["description"]
    assert [m["fromCertificate"]["kopecks"] for m in seen["monthly"]] == [100_004] + [100_000] * 6

    # the same month again, a month not begun, a month before the contract
    twice = await report(gql, staff, THIS_MONTH, [(e["id"], 100)])
    assert [(x["code"], x["field"]) for x in twice["userErrors"]] == [
        ("DUPLICATE", ["input", "items", "0", "enrollmentId"])
    ]
    ahead = await report(gql, staff, add_months(THIS_MONTH, 1), [(e["id"], 100)], lang="en")
    assert ahead["userErrors"][0]["code"] == "INVALID"
    assert ahead["userErrors"][0]["message"] == "The month has not begun yet and cannot be reported"
    before = await report(gql, staff, add_months(THIS_MONTH, -1), [(e["id"], 100)])
    assert before["userErrors"][0]["code"] == "INVALID"

    # settlement for the operator of the provider's municipality (and the provider itself)
    args = {"p": gid("Provider", world.provider_id), "m": THIS_MONTH.isoformat()}
    s = (await gql(SETTLEMENT, args, token=token("OPERATOR", "op", municipality="01")))["data"]["providerSettlement"]
    assert s == {
        "month": THIS_MONTH.isoformat(),
        "charged": {"kopecks": 80_003},
        "released": {"kopecks": 20_001},
        "contracts": 1,
        "provider": {"inn": PROVIDER_INN},
    }
    assert (await gql(SETTLEMENT, args, token=staff))["data"]["providerSettlement"]["contracts"] == 1
    for stranger in (token("OPERATOR", "op2", municipality="02"), alice, provider_token(token, OTHER_INN)):
        assert (await gql(SETTLEMENT, args, token=stranger))["data"]["providerSettlement"] is None
    everyone = await gql(
        "query($m: Date!) { municipalitySettlements(month: $m) { charged { kopecks } contracts } }",
        {"m": THIS_MONTH.isoformat()},
        token=token("OPERATOR", "op", municipality="01"),
    )
    assert everyone["data"]["municipalitySettlements"] == [{"charged": {"kopecks": 80_003}, "contracts": 1}]

    # cancellation: the charged month stays, the whole remaining reserve returns at once
    cancelled = (await gql(CANCEL, {"id": e["id"]}, token=alice))["data"]["r"]
    assert cancelled["enrollment"]["status"] == "TERMINATED"
    assert cancelled["enrollment"]["charged"]["kopecks"] == 80_003
    assert await balance(gql, alice, cert["id"]) == {
        "credited": NOMINAL,
        "reserved": 0,
        "spent": 80_003,
        "available": NOMINAL - 80_003,
    }
    late = await report(gql, staff, THIS_MONTH, [(e["id"], 100)])
    assert late["userErrors"][0]["code"] in ("INVALID_TRANSITION", "DUPLICATE")


async def test_several_months_first_takes_the_remainder(gql, token, world):
    cert, e = await running_contract(gql, token, await running_group(world), "alice", "Смирнов Артём Павлович")
    async with world.engine.begin() as conn:  # two months later: the contract began two months ago
        await conn.execute(
            text("UPDATE enrollments SET first_month = :m WHERE id = :id"),
            {"m": add_months(THIS_MONTH, -2), "id": pk(e["id"])},
        )
    staff = provider_token(token)
    reports = []
    for back, completeness in ((2, 100), (1, 0), (0, 50)):  # each month reported in its own month
        month = add_months(THIS_MONTH, -back)
        with clock.use(clock.FixedClock.on(month.replace(day=25))):
            reports.append(await report(gql, staff, month, [(e["id"], completeness)]))
    full, none, half = reports
    assert (full["charged"]["kopecks"], full["released"]["kopecks"]) == (100_004, 0)
    assert (none["charged"]["kopecks"], none["released"]["kopecks"]) == (0, 100_000)
    assert (half["charged"]["kopecks"], half["released"]["kopecks"]) == (50_000, 50_000)
    b = await balance(gql, token("GUARDIAN", "alice"), cert["id"])
    assert b["spent"] == 150_004 and b["reserved"] == 400_000
    seen = (await gql(ENROLLMENT, {"id": e["id"]}, token=token("GUARDIAN", "alice")))["data"]["node"]
    assert [c["month"] for c in seen["charges"]] == [add_months(THIS_MONTH, -2).isoformat(), THIS_MONTH.isoformat()]


async def test_report_is_all_or_nothing_with_typed_item_errors(gql, token, world):
    group = await running_group(world)
    _, a = await running_contract(gql, token, group, "alice", "Смирнов Артём Павлович")
    _, b = await running_contract(gql, token, group, "bob", "Кузнецов Илья Петрович", accept=False)
    staff = provider_token(token)
    other_provider = await add_provider(world.engine, OTHER_INN)
    foreign_program = await add_program(world.engine, other_provider)
    await add_group(world.engine, foreign_program, starts_on=world.starts_on, ends_on=world.ends_on, name="Чужая")
    bad = await report(
        gql,
        staff,
        THIS_MONTH,
        [(a["id"], 100), (b["id"], 100), ("garbage", 50), (a["id"], 10), (gid("Enrollment", 9999), 101)],
    )
    got = [(x["code"], x["field"]) for x in bad["userErrors"]]
    assert ("INVALID", ["input", "items", "3", "enrollmentId"]) in got  # repeated
    assert ("NOT_FOUND", ["input", "items", "2", "enrollmentId"]) in got
    assert ("INVALID", ["input", "items", "4", "completeness"]) in got
    assert bad["charged"]["kopecks"] == 0
    mixed = await report(gql, staff, THIS_MONTH, [(a["id"], 100), (b["id"], 100)])
    assert [(x["code"], x["field"]) for x in mixed["userErrors"]] == [
        ("INVALID_TRANSITION", ["input", "items", "1", "enrollmentId"])
    ]
    # nothing was written by the refused reports
    async with world.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM provision_reports"))).scalar() == 0
    # another provider cannot report our contract; a guardian cannot report at all
    assert (await report(gql, provider_token(token, OTHER_INN), THIS_MONTH, [(a["id"], 100)]))["userErrors"][0][
        "code"
    ] == "NOT_FOUND"
    assert (await report(gql, token("GUARDIAN", "alice"), THIS_MONTH, [(a["id"], 100)]))["userErrors"][0][
        "code"
    ] == "FORBIDDEN"
    empty = await report(gql, staff, THIS_MONTH, [])
    assert empty["userErrors"][0]["code"] == "INVALID"
    too_many = await report(gql, staff, THIS_MONTH, [(gid("Enrollment", i + 1), 100) for i in range(501)])
    assert too_many["userErrors"][0]["code"] == "LIMIT_EXCEEDED"
    ok = await report(gql, staff, THIS_MONTH, [(a["id"], 100)])
    assert ok["userErrors"] == [] and ok["charged"]["kopecks"] == 100_004


async def test_ended_groups_complete_and_release_what_is_left(gql, token, world):
    staff = provider_token(token)
    contracts = {}
    for subject, name in (("alice", "Смирнов Артём Павлович"), ("bob", "Кузнецов Илья Петрович")):
        cert = await new_certificate(gql, token, subject, name, 10)
        e = (await enroll(gql, token, subject, cert["id"], world.group))["enrollment"]
        assert (await gql(ACCEPT, {"id": e["id"]}, token=staff))["data"]["r"]["userErrors"] == []
        contracts[subject] = (cert, e)
    carol = await new_certificate(gql, token, "carol", "Орлов Денис Олегович", 10)
    pending = (await enroll(gql, token, "carol", carol["id"], world.group))["enrollment"]

    # alice's months are all reported (by the provider, each in its month)
    provider = Actor.provider("staff", world.provider_id)
    for i in range(9):
        month = add_months(world.starts_on, i)
        line = enrollment.ProvisionLine(pk(contracts["alice"][1]["id"]), 100 if i % 2 else 90)
        await transaction(
            world.engine,
            lambda c, m=month, ln=line: enrollment.report_provision(c, provider, m, [ln], m),
        )
    assert await enrollment.complete_finished_groups(world.engine, world.ends_on) == 0
    closed = await enrollment.complete_finished_groups(world.engine, world.ends_on + timedelta(days=1))
    assert closed == 2  # alice COMPLETED (fully reported), carol's application EXPIRED

    q = "query($id: ID!) { node(id: $id) { ... on Enrollment { status reserved { kopecks } charged { kopecks } } } }"
    alice = (await gql(q, {"id": contracts["alice"][1]["id"]}, token=token("GUARDIAN", "alice")))["data"]["node"]
    assert alice["status"] == "COMPLETED" and alice["reserved"]["kopecks"] == 0
    bob_id = contracts["bob"][1]["id"]
    assert (await gql(q, {"id": bob_id}, token=token("GUARDIAN", "bob")))["data"]["node"]["status"] == "ACTIVE"
    assert (await gql(q, {"id": pending["id"]}, token=token("GUARDIAN", "carol")))["data"]["node"]["status"] == (
        "EXPIRED"
    )
    # bob's unreported months wait for the last month's reporting window, then return
    due = enrollment.completion_due(world.ends_on)
    assert due == add_months(month_start(world.ends_on), 2)
    assert await enrollment.complete_finished_groups(world.engine, due - timedelta(days=1)) == 0
    assert await enrollment.complete_finished_groups(world.engine, due) == 1
    bob = (await gql(q, {"id": bob_id}, token=token("GUARDIAN", "bob")))["data"]["node"]
    assert bob == {"status": "COMPLETED", "reserved": {"kopecks": 0}, "charged": {"kopecks": 0}}
    assert await balance(gql, token("GUARDIAN", "bob"), contracts["bob"][0]["id"]) == {
        "credited": NOMINAL,
        "reserved": 0,
        "spent": 0,
        "available": NOMINAL,
    }
    seats = await gql("query($id: ID!) { node(id: $id) { ... on Group { seatsLeft } } }", {"id": world.group})
    assert seats["data"]["node"]["seatsLeft"] == 10
