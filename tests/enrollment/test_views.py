"""What each role sees of enrollments, in a fixed number of statements whatever the number of rows."""

from __future__ import annotations

from sqlalchemy import text

from pdo_graph.domain.money import add_months
from tests.enrollment.conftest import ACCEPT, REPORT, add_group, enroll, gid, pk, provider_token
from tests.helpers import new_certificate, recorded_statements

DASHBOARD = """
{ viewer { children { id fullName
    certificate { number balance { available { kopecks } reserved { kopecks } spent { kopecks } } }
    enrollments(first: 10) { totalCount pageInfo { hasNextPage } edges { node {
      id status fromCertificate { kopecks } fromFamily { kopecks } reserved { kopecks } charged { kopecks }
      charges { month completeness amount { kopecks } } monthly { month fromCertificate { kopecks } }
      pupil { fullName age } group { name startsOn program { title provider { name } } } } } } } } }
"""

QUEUE = """
{ providerEnrollments(first: 50) { totalCount edges { node {
    id status fromCertificate { kopecks } pupil { fullName age } group { name program { title } } charges { month } } } } }
"""


async def family(gql, token, world, subject: str, children: int) -> None:
    """``children`` children of one guardian, each in two groups; the first contract accepted and charged."""
    second = await add_group(
        world.engine, world.program_id, starts_on=world.starts_on, ends_on=world.ends_on, name=f"Вторая {subject}"
    )
    for i in range(children):
        cert = await new_certificate(gql, token, subject, f"Ребёнок{i} {subject.capitalize()} Тестович", 8 + i)
        a = (await enroll(gql, token, subject, cert["id"], world.group, key=f"{subject}-{i}-a"))["enrollment"]
        await enroll(gql, token, subject, cert["id"], gid("Group", second), key=f"{subject}-{i}-b")
        await gql(ACCEPT, {"id": a["id"]}, token=provider_token(token))
        async with world.engine.begin() as conn:  # the contract began two months ago (time travel)
            await conn.execute(
                text("UPDATE enrollments SET first_month = :m WHERE id = :id"),
                {"m": add_months(world.starts_on, -2), "id": pk(a["id"])},
            )
        body = await gql(
            REPORT,
            {
                "month": add_months(world.starts_on, -2).isoformat(),
                "items": [{"enrollmentId": a["id"], "completeness": 75}],
            },
            token=provider_token(token),
        )
        assert body["data"]["provisionReport"]["userErrors"] == [], body


async def test_family_dashboard_in_a_fixed_number_of_statements(gql, token, world):
    await family(gql, token, world, "alice", 1)
    await family(gql, token, world, "bob", 3)
    counts = {}
    for subject, children in (("alice", 1), ("bob", 3)):
        with recorded_statements(world.engine) as statements:
            body = await gql(DASHBOARD, token=token("GUARDIAN", subject))
        assert "errors" not in body, body
        kids = body["data"]["viewer"]["children"]
        assert len(kids) == children
        for kid in kids:
            edges = kid["enrollments"]["edges"]
            assert kid["enrollments"]["totalCount"] == 2 and len(edges) == 2
            accepted = next(e["node"] for e in edges if e["node"]["status"] == "ACTIVE")
            assert [c["completeness"] for c in accepted["charges"]] == [75]
            assert accepted["charged"]["kopecks"] == accepted["charges"][0]["amount"]["kopecks"] > 0
            assert accepted["reserved"]["kopecks"] == (
                accepted["fromCertificate"]["kopecks"] - accepted["monthly"][0]["fromCertificate"]["kopecks"]
            )
        counts[subject] = len(statements)
    assert counts["alice"] == counts["bob"], counts  # no statement per child or per enrollment
    assert counts["bob"] <= 12, counts
    print("dashboard statements", counts)


async def test_provider_queue_in_a_fixed_number_of_statements(gql, token, world):
    await family(gql, token, world, "alice", 1)
    staff = provider_token(token)
    with recorded_statements(world.engine) as few:
        small = await gql(QUEUE, token=staff)
    await family(gql, token, world, "bob", 3)
    with recorded_statements(world.engine) as many:
        large = await gql(QUEUE, token=staff)
    assert small["data"]["providerEnrollments"]["totalCount"] == 2
    assert large["data"]["providerEnrollments"]["totalCount"] == 8
    assert len(few) == len(many), (few, many)
    pupils = [e["node"]["pupil"] for e in large["data"]["providerEnrollments"]["edges"]]
    assert {p["fullName"] for p in pupils} >= {"Ребёнок2 Bob Тестович"}
    assert all(set(p) == {"fullName", "age"} for p in pupils)


async def test_child_enrollments_paging(gql, token, world):
    await family(gql, token, world, "alice", 1)
    q = """query($after: String) { viewer { children { enrollments(first: 1, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } } } }"""
    alice = token("GUARDIAN", "alice")
    first = (await gql(q, token=alice))["data"]["viewer"]["children"][0]["enrollments"]
    assert first["totalCount"] == 2 and first["pageInfo"]["hasNextPage"] is True
    second = (await gql(q, {"after": first["pageInfo"]["endCursor"]}, token=alice))["data"]["viewer"]["children"][0][
        "enrollments"
    ]
    assert second["totalCount"] == 2 and second["pageInfo"]["hasNextPage"] is False
    assert second["edges"][0]["node"]["id"] != first["edges"][0]["node"]["id"]
    end = (await gql(q, {"after": second["pageInfo"]["endCursor"]}, token=alice))["data"]["viewer"]["children"][0][
        "enrollments"
    ]
    assert end["totalCount"] == 2 and end["edges"] == []
