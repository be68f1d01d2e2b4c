"""Plans: several groups quoted together for one certificate (money flows from one to the next) and
applied for together, all or none, idempotently, with the family's confirmed total."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.enrollment.conftest import add_group, balance, gid
from tests.enrollment.test_fair_opening import families

PLAN = """query($c: ID!, $g: [ID!]!) { plan(certificateId: $c, groupIds: $g) {
  fromCertificate { kopecks } fromFamily { kopecks } remainingAvailable { kopecks } userErrors { code field }
  items { group { id } fromCertificate { kopecks } fromFamily { kopecks } availableAfter { kopecks }
    monthly { month fromCertificate { kopecks } fromFamily { kopecks } } userErrors { code field } } } }"""
MANY = """mutation($c: ID!, $g: [ID!]!, $k: String!, $x: SafeInt) {
  enrollmentCreateMany(input: {certificateId: $c, groupIds: $g, idempotencyKey: $k, expectedFromFamily: $x}) {
    enrollments { id status fromCertificate { kopecks } fromFamily { kopecks } } userErrors { code field message } } }"""


async def _groups(world: Any, prices: list[int], capacity: int = 5) -> list[str]:
    ids = [world.group]
    async with world.engine.begin() as c:
        await c.execute(text("UPDATE groups SET price = :p WHERE id = :g"), {"p": prices[0], "g": world.group_id})
    for n, price in enumerate(prices[1:]):
        pk = await add_group(
            world.engine,
            world.program_id,
            starts_on=world.starts_on,
            ends_on=world.ends_on,
            capacity=capacity,
            price=price,
            name=f"Группа {n + 2}",
        )
        ids.append(gid("Group", pk))
    return ids


async def test_plan_flows_money_from_one_group_to_the_next(gql: Any, token: Any, db: Any) -> None:
    world, [(subject, cert)] = await families(db, 1)
    # 30 000 ₽ available: 18 000 + 9 000 + 9 000 -> the third is co-paid 6 000 ₽
    groups = await _groups(world, [1_800_000, 900_000, 900_000])
    closed = await add_group(  # a fourth group that would fail (closed)
        db,
        world.program_id,
        starts_on=world.starts_on,
        ends_on=world.ends_on,
        price=100,
        enrollment_open=False,
        name="Закрытая",
    )
    t = token("GUARDIAN", subject)
    body = await gql(
        PLAN, {"c": gid("Certificate", cert), "g": [*groups[:2], gid("Group", closed), groups[2]]}, token=t
    )
    p = body["data"]["plan"]
    assert [i["fromCertificate"]["kopecks"] for i in p["items"]] == [1_800_000, 900_000, 100, 300_000]
    assert [i["fromFamily"]["kopecks"] for i in p["items"]] == [0, 0, 0, 600_000]
    assert [i["availableAfter"]["kopecks"] for i in p["items"]] == [1_200_000, 300_000, 300_000, 0]
    assert p["items"][2]["userErrors"] == [{"code": "GROUP_CLOSED", "field": ["groupIds", "2"]}]
    assert p["fromCertificate"]["kopecks"] == 3_000_000 and p["fromFamily"]["kopecks"] == 600_000
    assert p["remainingAvailable"]["kopecks"] == 0
    assert sum(m["fromFamily"]["kopecks"] for m in p["items"][3]["monthly"]) == 600_000
    other = await gql(PLAN, {"c": gid("Certificate", cert), "g": groups}, token=token("GUARDIAN", "stranger"))
    assert other["data"]["plan"]["userErrors"] == [{"code": "FORBIDDEN", "field": ["certificateId"]}]
    assert other["data"]["plan"]["items"] == []

    # all or none: a failing group refuses everything, nothing is reserved
    bad = await gql(MANY, {"c": gid("Certificate", cert), "g": [*groups, gid("Group", closed)], "k": "p1"}, token=t)
    assert [e["code"] for e in bad["data"]["enrollmentCreateMany"]["userErrors"]] == ["GROUP_CLOSED"]
    assert bad["data"]["enrollmentCreateMany"]["userErrors"][0]["field"] == ["input", "groupIds", "3"]
    assert (await balance(gql, t, gid("Certificate", cert)))["reserved"] == 0
    # the family confirmed another total: QUOTE_CHANGED with the new figures, nothing written
    changed = await gql(MANY, {"c": gid("Certificate", cert), "g": groups, "k": "p2", "x": 0}, token=t)
    err = changed["data"]["enrollmentCreateMany"]["userErrors"]
    assert [e["code"] for e in err] == ["QUOTE_CHANGED"] and "6000.00" in err[0]["message"]
    assert (await balance(gql, t, gid("Certificate", cert)))["reserved"] == 0
    # confirmed: all three at once, as the plan said
    ok = await gql(MANY, {"c": gid("Certificate", cert), "g": groups, "k": "p3", "x": 600_000}, token=t)
    made = ok["data"]["enrollmentCreateMany"]
    assert made["userErrors"] == [] and [e["status"] for e in made["enrollments"]] == ["REQUESTED"] * 3
    assert [e["fromFamily"]["kopecks"] for e in made["enrollments"]] == [0, 0, 600_000]
    assert (await balance(gql, t, gid("Certificate", cert)))["available"] == 0
    # idempotent: the same key and plan return the same enrollments; the key with another plan is refused
    replay = await gql(MANY, {"c": gid("Certificate", cert), "g": groups, "k": "p3", "x": 600_000}, token=t)
    assert [e["id"] for e in replay["data"]["enrollmentCreateMany"]["enrollments"]] == [
        e["id"] for e in made["enrollments"]
    ]
    reused = await gql(MANY, {"c": gid("Certificate", cert), "g": groups[:2], "k": "p3"}, token=t)
    assert [e["code"] for e in reused["data"]["enrollmentCreateMany"]["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    repeated = await gql(MANY, {"c": gid("Certificate", cert), "g": [groups[0], groups[0]], "k": "p4"}, token=t)
    assert [e["code"] for e in repeated["data"]["enrollmentCreateMany"]["userErrors"]] == ["INVALID"]
