"""Quote and application through the API: the split, the monthly plan, every refusal, idempotency."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text

from pdo_graph.domain.money import add_months, month_start
from tests.enrollment.conftest import (
    NOMINAL,
    QUOTE,
    add_group,
    add_program,
    balance,
    end_of_month,
    enroll,
    gid,
    provider_token,
)
from tests.helpers import new_certificate


async def test_quote_full_coverage_and_monthly_split(gql, token, world):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    body = await gql(QUOTE, {"c": cert["id"], "g": world.group}, token=token("GUARDIAN", "alice"))
    q = body["data"]["quote"]
    assert q["userErrors"] == []
    assert q["price"]["kopecks"] == q["fullPrice"]["kopecks"] == 900_001
    assert q["fromCertificate"] == {"kopecks": 900_001, "amount": "9000.01"}
    assert q["fromFamily"]["kopecks"] == 0
    assert q["months"] == 9 and q["joinsRunningGroup"] is False
    assert q["firstMonth"] == world.starts_on.isoformat()
    shares = [m["fromCertificate"]["kopecks"] for m in q["monthly"]]
    assert shares == [100_001] + [100_000] * 8  # the first month takes the remainder
    assert [m["month"] for m in q["monthly"]] == [add_months(world.starts_on, i).isoformat() for i in range(9)]
    assert all(m["fromFamily"]["kopecks"] == 0 for m in q["monthly"])


async def test_quote_co_pay_when_the_balance_is_short(gql, token, world):
    group = await add_group(
        world.engine, world.program_id, starts_on=world.starts_on, ends_on=world.ends_on, price=5_000_003
    )
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    q = (await gql(QUOTE, {"c": cert["id"], "g": gid("Group", group)}, token=token("GUARDIAN", "alice")))["data"][
        "quote"
    ]
    assert q["fromCertificate"]["kopecks"] == NOMINAL
    assert q["fromFamily"]["kopecks"] == 5_000_003 - NOMINAL
    fam = [m["fromFamily"]["kopecks"] for m in q["monthly"]]
    cer = [m["fromCertificate"]["kopecks"] for m in q["monthly"]]
    assert sum(fam) == 5_000_003 - NOMINAL and sum(cer) == NOMINAL
    assert fam[0] - fam[1] == (5_000_003 - NOMINAL) % 9
    assert cer[0] - cer[1] == NOMINAL % 9


async def test_quote_caps_at_normative_cost_when_the_period_says_so(gql, token, world):
    program = await add_program(world.engine, world.provider_id, normative_cost=500_000)
    group = await add_group(world.engine, program, starts_on=world.starts_on, ends_on=world.ends_on, price=900_000)
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice = token("GUARDIAN", "alice")
    q = (await gql(QUOTE, {"c": cert["id"], "g": gid("Group", group)}, token=alice))["data"]["quote"]
    assert q["fromCertificate"]["kopecks"] == 900_000  # no cap by default
    async with world.engine.begin() as conn:
        await conn.execute(text("UPDATE funding_periods SET cap_at_normative = true"))
    q = (await gql(QUOTE, {"c": cert["id"], "g": gid("Group", group)}, token=alice))["data"]["quote"]
    assert q["fromCertificate"]["kopecks"] == 500_000
    assert q["fromFamily"]["kopecks"] == 400_000


async def test_joining_a_running_group_pays_for_the_months_left(gql, token, world):
    this_month = month_start(date.today())
    starts = add_months(this_month, -3)
    ends = end_of_month(add_months(this_month, 5))  # 9 months in all, 6 from this one
    group = await add_group(world.engine, world.program_id, starts_on=starts, ends_on=ends, price=900_000)
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice = token("GUARDIAN", "alice")
    q = (await gql(QUOTE, {"c": cert["id"], "g": gid("Group", group)}, token=alice))["data"]["quote"]
    assert q["userErrors"] == []
    assert q["fullPrice"]["kopecks"] == 900_000
    assert q["price"]["kopecks"] == 600_000
    assert q["months"] == 6 and q["joinsRunningGroup"] is True
    assert q["firstMonth"] == this_month.isoformat()
    applied = await enroll(gql, token, "alice", cert["id"], gid("Group", group))
    e = applied["enrollment"]
    assert e["price"]["kopecks"] == 600_000 and e["months"] == 6 and e["firstMonth"] == this_month.isoformat()


async def test_quote_access_and_errors(gql, token, world):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    args = {"c": cert["id"], "g": world.group}
    for who in (token("GUARDIAN", "bob"), provider_token(token), token("OPERATOR", "op2", municipality="02")):
        q = (await gql(QUOTE, args, token=who))["data"]["quote"]
        assert [e["code"] for e in q["userErrors"]] == ["FORBIDDEN"]
        assert q["price"]["kopecks"] == 0 and q["monthly"] == [] and q["firstMonth"] is None
    operator = (await gql(QUOTE, args, token=token("OPERATOR", "op", municipality="01")))["data"]["quote"]
    assert operator["userErrors"] == [] and operator["fromCertificate"]["kopecks"] == 900_001
    anonymous = await gql(QUOTE, args)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    bad = (await gql(QUOTE, {"c": cert["id"], "g": "nope"}, token=token("GUARDIAN", "alice")))["data"]["quote"]
    assert bad["userErrors"][0]["code"] == "NOT_FOUND" and bad["userErrors"][0]["field"] == ["groupId"]
    missing = await gql(QUOTE, {"c": cert["id"], "g": gid("Group", 999)}, token=token("GUARDIAN", "alice"))
    assert missing["data"]["quote"]["userErrors"][0]["field"] == ["groupId"]
    teen = await add_program(world.engine, world.provider_id, min_age=14, max_age=17)
    group = await add_group(world.engine, teen, starts_on=world.starts_on, ends_on=world.ends_on)
    q = (await gql(QUOTE, {"c": cert["id"], "g": gid("Group", group)}, token=token("GUARDIAN", "alice")))["data"]
    assert [(e["code"], e["field"]) for e in q["quote"]["userErrors"]] == [("AGE_NOT_ELIGIBLE", ["groupId"])]
    assert q["quote"]["price"]["kopecks"] == 900_000  # the terms are shown all the same


async def test_apply_reserves_takes_a_seat_and_shows_the_reserve(gql, token, world):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice = token("GUARDIAN", "alice")
    applied = await enroll(gql, token, "alice", cert["id"], world.group)
    assert applied["userErrors"] == []
    e = applied["enrollment"]
    assert e["status"] == "REQUESTED"
    assert e["fromCertificate"]["kopecks"] == e["reserved"]["kopecks"] == 900_001
    assert e["charged"]["kopecks"] == 0 and e["decidedAt"] is None
    assert await balance(gql, alice, cert["id"]) == {
        "credited": NOMINAL,
        "reserved": 900_001,
        "spent": 0,
        "available": NOMINAL - 900_001,
    }
    seats = await gql("query($id: ID!) { node(id: $id) { ... on Group { seatsLeft } } }", {"id": world.group})
    assert seats["data"]["node"]["seatsLeft"] == 9
    tx = await gql(
        "query($id: ID!) { node(id: $id) { ... on Certificate { transactions(first: 5) { edges { node {"
        " kind amount { kopecks } enrollment { id status } } } } } } }",
        {"id": cert["id"]},
        token=alice,
    )
    kinds = [(x["node"]["kind"], x["node"]["enrollment"]) for x in tx["data"]["node"]["transactions"]["edges"]]
    assert kinds[0] == ("RESERVE", {"id": e["id"], "status": "REQUESTED"})
    # the child's enrollments show it
    mine = await gql(
        "{ viewer { children { enrollments(first: 5) { totalCount edges { node { id status group { name } } } } } } }",
        token=alice,
    )
    child = mine["data"]["viewer"]["children"][0]
    assert child["enrollments"]["totalCount"] == 1
    assert child["enrollments"]["edges"][0]["node"]["group"]["name"] == "Группа 1"


async def test_every_refusal_is_typed_and_writes_nothing(gql, token, world):
    engine = world.engine
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice = token("GUARDIAN", "alice")

    async def codes(group_pk: int, key: str, lang: str | None = None) -> list[str]:
        body = await gql(
            "mutation($c: ID!, $g: ID!, $k: String!) { enrollmentCreate(input: {certificateId: $c, groupId: $g,"
            " idempotencyKey: $k}) { enrollment { id } userErrors { code field message } } }",
            {"c": cert["id"], "g": gid("Group", group_pk), "k": key},
            token=alice,
            lang=lang,
        )
        payload = body["data"]["enrollmentCreate"]
        assert payload["enrollment"] is None
        return [e["code"] for e in payload["userErrors"]]

    s, e = world.starts_on, world.ends_on
    uncertified = await add_program(engine, world.provider_id, certified=False)
    teens = await add_program(engine, world.provider_id, min_age=14, max_age=17)
    assert await codes(await add_group(engine, uncertified, starts_on=s, ends_on=e), "a") == ["PROGRAM_NOT_CERTIFIED"]
    assert await codes(await add_group(engine, teens, starts_on=s, ends_on=e), "b") == ["AGE_NOT_ELIGIBLE"]
    closed = await add_group(engine, world.program_id, starts_on=s, ends_on=e, enrollment_open=False)
    assert await codes(closed, "c") == ["GROUP_CLOSED"]
    ended = await add_group(
        engine, world.program_id, starts_on=date.today() - timedelta(days=90), ends_on=date.today() - timedelta(days=1)
    )
    assert await codes(ended, "d") == ["GROUP_CLOSED"]
    full = await add_group(engine, world.program_id, starts_on=s, ends_on=e, capacity=1)
    other = await new_certificate(gql, token, "bob", "Кузнецов Илья Петрович", 9)
    assert (await enroll(gql, token, "bob", other["id"], gid("Group", full)))["userErrors"] == []
    assert await codes(full, "e") == ["GROUP_FULL"]
    english = await gql(
        'mutation($c: ID!, $g: ID!) { enrollmentCreate(input: {certificateId: $c, groupId: $g, idempotencyKey: "f"})'
        " { userErrors { code message } } }",
        {"c": cert["id"], "g": gid("Group", full)},
        token=alice,
        lang="en",
    )
    assert english["data"]["enrollmentCreate"]["userErrors"][0]["message"] == "The group has no free seats"

    assert (await enroll(gql, token, "alice", cert["id"], world.group, key="g"))["userErrors"] == []
    assert await codes(world.group_id, "h") == ["ALREADY_ENROLLED"]

    async with engine.begin() as conn:
        await conn.execute(text("UPDATE funding_periods SET open_for_applications = false"))
    assert "PERIOD_CLOSED" in await codes(await add_group(engine, world.program_id, starts_on=s, ends_on=e), "i")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE funding_periods SET open_for_applications = true"))
        await conn.execute(
            text("UPDATE certificates SET valid_until = :d WHERE number = :n"),
            {"d": date.today() - timedelta(days=1), "n": cert["number"]},
        )
    assert await codes(await add_group(engine, world.program_id, starts_on=s, ends_on=e), "j") == [
        "CERTIFICATE_NOT_ACTIVE"
    ]
    # someone else's certificate
    body = await gql(
        'mutation($c: ID!, $g: ID!) { enrollmentCreate(input: {certificateId: $c, groupId: $g, idempotencyKey: "x"})'
        " { enrollment { id } userErrors { code } } }",
        {"c": other["id"], "g": world.group},
        token=alice,
    )
    assert body["data"]["enrollmentCreate"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert (await balance(gql, alice, cert["id"]))["reserved"] == 900_001  # only the one that succeeded


async def test_idempotent_replay_and_reuse(gql, token, world):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice = token("GUARDIAN", "alice")
    first = await enroll(gql, token, "alice", cert["id"], world.group, key="same")
    # the balance changes underneath (another application drains it); the replay still returns the first result
    big = await add_group(
        world.engine, world.program_id, starts_on=world.starts_on, ends_on=world.ends_on, price=NOMINAL
    )
    drained = await enroll(gql, token, "alice", cert["id"], gid("Group", big), key="other")
    assert drained["enrollment"]["fromCertificate"]["kopecks"] == NOMINAL - 900_001
    again = await enroll(gql, token, "alice", cert["id"], world.group, key="same")
    assert again == first
    reused = await enroll(gql, token, "alice", cert["id"], gid("Group", big), key="same")
    assert reused["enrollment"] is None
    assert reused["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert reused["userErrors"][0]["field"] == ["input", "idempotencyKey"]
    blank = await enroll(gql, token, "alice", cert["id"], world.group, key="  ")
    assert blank["userErrors"][0]["code"] == "INVALID"
    assert await balance(gql, alice, cert["id"]) == {
        "credited": NOMINAL,
        "reserved": NOMINAL,
        "spent": 0,
        "available": 0,
    }


async def test_nothing_available_means_the_family_pays_all_and_no_reserve(gql, token, world):
    big = await add_group(
        world.engine, world.program_id, starts_on=world.starts_on, ends_on=world.ends_on, price=NOMINAL
    )
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    assert (await enroll(gql, token, "alice", cert["id"], gid("Group", big), key="1"))["userErrors"] == []
    second = await enroll(gql, token, "alice", cert["id"], world.group, key="2")
    e = second["enrollment"]
    assert e["fromCertificate"]["kopecks"] == 0 and e["fromFamily"]["kopecks"] == 900_001
    assert e["reserved"]["kopecks"] == 0
    async with world.engine.connect() as conn:
        entries = (await conn.execute(text("SELECT count(*) FROM ledger_entries WHERE kind = 'RESERVE'"))).scalar()
    assert entries == 1


CONFIRMED = """
mutation($c: ID!, $g: ID!, $k: String!, $f: SafeInt) {
  enrollmentCreate(input: {certificateId: $c, groupId: $g, idempotencyKey: $k, expectedFromFamily: $f}) {
    enrollment { id status fromCertificate { kopecks } fromFamily { kopecks } }
    userErrors { code field message changedQuote { price { kopecks } fromCertificate { kopecks } fromFamily { kopecks } } }
  }
}"""


async def test_a_changed_family_share_is_refused_with_the_new_figures_and_reserves_nothing(gql, token, world):
    first = await add_group(
        world.engine, world.program_id, starts_on=world.starts_on, ends_on=world.ends_on, price=2_000_000
    )
    second = await add_group(
        world.engine, world.program_id, starts_on=world.starts_on, ends_on=world.ends_on, price=2_500_000
    )
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice = token("GUARDIAN", "alice")
    # both quotes, seen before either application: each is covered by the whole balance
    seen = [
        (await gql(QUOTE, {"c": cert["id"], "g": gid("Group", g)}, token=alice))["data"]["quote"]["fromFamily"][
            "kopecks"
        ]
        for g in (first, second)
    ]
    assert seen == [0, 0]

    def create(g: int, key: str, f: int | None) -> dict:
        return {"c": cert["id"], "g": gid("Group", g), "k": key, "f": f}

    ok = (await gql(CONFIRMED, create(first, "a", 0), token=alice))["data"]["enrollmentCreate"]
    assert ok["userErrors"] == [] and ok["enrollment"]["fromFamily"]["kopecks"] == 0
    before = await balance(gql, alice, cert["id"])
    # the first application took 20 000 ₽: the second now costs the family 15 000 ₽, not the 0 it saw
    refused = (await gql(CONFIRMED, create(second, "b", 0), token=alice))["data"]["enrollmentCreate"]
    assert refused["enrollment"] is None
    [error] = refused["userErrors"]
    assert error["code"] == "QUOTE_CHANGED" and error["field"] == ["input", "expectedFromFamily"]
    assert "15000.00" in error["message"] and "25000.00" in error["message"]
    assert error["changedQuote"] == {
        "price": {"kopecks": 2_500_000},
        "fromCertificate": {"kopecks": NOMINAL - 2_000_000},
        "fromFamily": {"kopecks": 1_500_000},
    }
    # nothing reserved, no seat taken, no row written
    assert await balance(gql, alice, cert["id"]) == before
    async with world.engine.connect() as conn:
        seats = (await conn.execute(text("SELECT seats_taken FROM groups WHERE id = :g"), {"g": second})).scalar()
        rows = (
            await conn.execute(text("SELECT count(*) FROM enrollments WHERE group_id = :g"), {"g": second})
        ).scalar()
    assert (seats, rows) == (0, 0)
    # confirming the new figure applies; omitting it confirms nothing (as before)
    again = (await gql(CONFIRMED, create(second, "b", 1_500_000), token=alice))["data"]["enrollmentCreate"]
    assert again["userErrors"] == [] and again["enrollment"]["fromFamily"]["kopecks"] == 1_500_000
    assert (await balance(gql, alice, cert["id"]))["available"] == 0
    # a retry of the accepted request returns it, whatever figure it carries
    replay = (await gql(CONFIRMED, create(second, "b", 7), token=alice))["data"]["enrollmentCreate"]
    assert replay["userErrors"] == [] and replay["enrollment"]["id"] == again["enrollment"]["id"]
