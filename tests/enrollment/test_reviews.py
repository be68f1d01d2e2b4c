"""Reviews: the guardian of a contract that is or was active rates the program once."""

from __future__ import annotations

from sqlalchemy import text

from tests.enrollment.conftest import ACCEPT, CANCEL, enroll, gid, provider_token
from tests.helpers import new_certificate

REVIEW = """
mutation($id: ID!, $rating: Int!, $text: String) {
  programReview(input: {enrollmentId: $id, rating: $rating, text: $text}) {
    program { id rating reviewCount }
    review { id rating text }
    userErrors { code field message }
  }
}"""

REVIEWS = """
query($p: ID!, $after: String) {
  programReviews(programId: $p, first: 1, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id rating text program { title } } }
  }
}"""


async def rate(gql, who: str, enrollment_id: str, rating: int, text: str | None = None) -> dict:
    body = await gql(REVIEW, {"id": enrollment_id, "rating": rating, "text": text}, token=who)
    assert "errors" not in body, body
    return body["data"]["programReview"]


async def test_review_once_per_active_contract_and_read_them(gql, token, world):
    staff = provider_token(token)
    alice, bob = token("GUARDIAN", "alice"), token("GUARDIAN", "bob")
    a_cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    b_cert = await new_certificate(gql, token, "bob", "Кузнецов Илья Петрович", 9)
    a = (await enroll(gql, token, "alice", a_cert["id"], world.group))["enrollment"]
    b = (await enroll(gql, token, "bob", b_cert["id"], world.group))["enrollment"]

    assert (await rate(gql, alice, a["id"], 5))["userErrors"][0]["code"] == "INVALID_TRANSITION"  # only REQUESTED
    await gql(ACCEPT, {"id": a["id"]}, token=staff)
    assert (await rate(gql, bob, a["id"], 5))["userErrors"][0]["code"] == "FORBIDDEN"
    assert (await rate(gql, staff, a["id"], 5))["userErrors"][0]["code"] == "FORBIDDEN"
    bad = await rate(gql, alice, a["id"], 6, "x" * 2001)
    assert sorted(e["field"][-1] for e in bad["userErrors"]) == ["rating", "text"]

    done = await rate(gql, alice, a["id"], 5, "  Отличный кружок  ")
    assert done["userErrors"] == []
    assert done["program"] == {"id": gid("Program", world.program_id), "rating": 5.0, "reviewCount": 1}
    assert done["review"]["text"] == "Отличный кружок"
    assert (await rate(gql, alice, a["id"], 1))["userErrors"][0]["code"] == "DUPLICATE"

    # a withdrawn application was never a contract; a terminated contract was
    await gql(CANCEL, {"id": b["id"]}, token=bob)
    assert (await rate(gql, bob, b["id"], 2))["userErrors"][0]["code"] == "INVALID_TRANSITION"
    b2 = (await enroll(gql, token, "bob", b_cert["id"], world.group, key="k2"))["enrollment"]
    await gql(ACCEPT, {"id": b2["id"]}, token=staff)
    await gql(CANCEL, {"id": b2["id"]}, token=staff)
    later = await rate(gql, bob, b2["id"], 2)
    assert later["userErrors"] == [] and later["program"]["rating"] == 3.5 and later["program"]["reviewCount"] == 2

    async with world.engine.connect() as conn:
        sums = (await conn.execute(text("SELECT rating_sum, rating_count FROM programs"))).one()
    assert tuple(sums) == (7, 2)

    # public, newest first, paged
    p = gid("Program", world.program_id)
    page = (await gql(REVIEWS, {"p": p}))["data"]["programReviews"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"] is True
    assert page["edges"][0]["node"]["rating"] == 2
    rest = (await gql(REVIEWS, {"p": p, "after": page["pageInfo"]["endCursor"]}))["data"]["programReviews"]
    assert [x["node"]["rating"] for x in rest["edges"]] == [5]
    assert rest["edges"][0]["node"]["program"]["title"] == "Робототехника"
    node = await gql("query($id: ID!) { node(id: $id) { ... on Review { rating } } }", {"id": later["review"]["id"]})
    assert node["data"]["node"] == {"rating": 2}
    none = (await gql(REVIEWS, {"p": "garbage"}))["data"]["programReviews"]
    assert none["totalCount"] == 0
