"""Provider decisions, the provider's queue and what it may see, cancellation, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from pdo_graph.domain import enrollment
from pdo_graph.jobs import run_housekeeping
from tests.enrollment.conftest import (
    ACCEPT,
    CANCEL,
    NOMINAL,
    OTHER_INN,
    REFUSE,
    add_provider,
    balance,
    enroll,
    gid,
    pk,
    provider_token,
)
from tests.helpers import new_certificate

QUEUE = """
query($status: EnrollmentStatus, $g: ID) {
  providerEnrollments(first: 10, status: $status, groupId: $g) {
    totalCount edges { node { id status fromCertificate { kopecks } pupil { fullName age } group { name } } }
  }
}"""


async def decide(gql, doc: str, enrollment_id: str, who: str, reason: str | None = None) -> dict:
    body = await gql(doc, {"id": enrollment_id, "reason": reason}, token=who)
    assert "errors" not in body, body
    return body["data"]["r"]


async def test_provider_queue_accept_and_privacy(gql, token, world):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    e = (await enroll(gql, token, "alice", cert["id"], world.group))["enrollment"]
    staff = provider_token(token)

    queue = (await gql(QUEUE, {"status": "REQUESTED"}, token=staff))["data"]["providerEnrollments"]
    assert queue["totalCount"] == 1
    node = queue["edges"][0]["node"]
    assert node["id"] == e["id"]
    assert node["pupil"] == {"fullName": "Смирнов Артём Павлович", "age": 10}
    assert (await gql(QUEUE, {"status": "ACTIVE"}, token=staff))["data"]["providerEnrollments"]["totalCount"] == 0
    by_group = await gql(QUEUE, {"g": world.group}, token=staff)
    assert by_group["data"]["providerEnrollments"]["totalCount"] == 1
    # the provider's token may also carry its global id instead of the INN
    by_id = token("PROVIDER", "machine", provider=gid("Provider", world.provider_id))
    assert (await gql(QUEUE, {}, token=by_id))["data"]["providerEnrollments"]["totalCount"] == 1

    # no birth date, СНИЛС or guardian for the provider: `child` is a field-level FORBIDDEN
    q = "query($id: ID!) { node(id: $id) { ... on Enrollment { pupil { age } child { birthDate } } } }"
    hidden = await gql(q, {"id": e["id"]}, token=staff)
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert hidden["errors"][0]["path"] == ["node", "child"]
    assert hidden["data"]["node"] is None
    assert "pupil" in hidden["errors"][0]["message"]
    own = await gql(q, {"id": e["id"]}, token=token("GUARDIAN", "alice"))
    assert own["data"]["node"]["child"]["birthDate"] and "errors" not in own
    operator = await gql(q, {"id": e["id"]}, token=token("OPERATOR", "op", municipality="01"))
    assert "errors" not in operator

    # strangers: another provider sees nothing and may not decide
    await add_provider(world.engine, OTHER_INN)
    other = provider_token(token, OTHER_INN)
    assert (await gql(QUEUE, {}, token=other))["data"]["providerEnrollments"]["totalCount"] == 0
    assert (await gql(q, {"id": e["id"]}, token=other))["data"]["node"] is None
    assert (await decide(gql, ACCEPT, e["id"], other))["userErrors"][0]["code"] == "FORBIDDEN"
    assert (await decide(gql, ACCEPT, e["id"], token("GUARDIAN", "alice")))["userErrors"][0]["code"] == "FORBIDDEN"
    assert (await gql(QUEUE, {}, token=token("GUARDIAN", "alice")))["data"]["providerEnrollments"]["totalCount"] == 0

    accepted = await decide(gql, ACCEPT, e["id"], staff)
    assert accepted["userErrors"] == []
    assert accepted["enrollment"]["status"] == "ACTIVE" and accepted["enrollment"]["decidedAt"]
    again = await decide(gql, ACCEPT, e["id"], staff)
    assert again["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert "ACTIVE" in again["userErrors"][0]["message"]
    refuse_active = await decide(gql, REFUSE, e["id"], staff)
    assert refuse_active["userErrors"][0]["code"] == "INVALID_TRANSITION"


async def test_refuse_releases_the_reserve_and_the_seat_and_keeps_the_reason(gql, token, world):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice = token("GUARDIAN", "alice")
    e = (await enroll(gql, token, "alice", cert["id"], world.group))["enrollment"]
    refused = await decide(gql, REFUSE, e["id"], provider_token(token), reason="  Группа   переполнена ")
    assert refused["enrollment"]["status"] == "REFUSED"
    assert refused["enrollment"]["reason"] == "Группа переполнена"
    assert refused["enrollment"]["reserved"]["kopecks"] == 0
    assert await balance(gql, alice, cert["id"]) == {
        "credited": NOMINAL,
        "reserved": 0,
        "spent": 0,
        "available": NOMINAL,
    }
    seats = await gql("query($id: ID!) { node(id: $id) { ... on Group { seatsLeft } } }", {"id": world.group})
    assert seats["data"]["node"]["seatsLeft"] == 10
    # the family may apply again (a new key): the old one is not live any more
    assert (await enroll(gql, token, "alice", cert["id"], world.group, key="k2"))["userErrors"] == []


async def test_cancel_by_guardian_and_provider(gql, token, world):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice = token("GUARDIAN", "alice")
    staff = provider_token(token)
    e = (await enroll(gql, token, "alice", cert["id"], world.group, key="1"))["enrollment"]
    # the provider refuses applications; it does not cancel them
    wrong = await decide(gql, CANCEL, e["id"], staff)
    assert wrong["userErrors"][0]["code"] == "INVALID_TRANSITION"
    # the guardian withdraws an unanswered application
    withdrawn = await decide(gql, CANCEL, e["id"], alice, reason="передумали")
    assert withdrawn["enrollment"]["status"] == "TERMINATED"
    assert withdrawn["enrollment"]["decidedAt"] is None
    assert (await balance(gql, alice, cert["id"]))["reserved"] == 0

    e2 = (await enroll(gql, token, "alice", cert["id"], world.group, key="2"))["enrollment"]
    assert (await decide(gql, ACCEPT, e2["id"], staff))["enrollment"]["status"] == "ACTIVE"
    assert (await decide(gql, CANCEL, e2["id"], token("GUARDIAN", "bob")))["userErrors"][0]["code"] == "FORBIDDEN"
    ended = await decide(gql, CANCEL, e2["id"], staff, reason="ребёнок не посещает")
    assert ended["enrollment"]["status"] == "TERMINATED" and ended["enrollment"]["reserved"]["kopecks"] == 0
    assert (await decide(gql, CANCEL, e2["id"], alice))["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert await balance(gql, alice, cert["id"]) == {
        "credited": NOMINAL,
        "reserved": 0,
        "spent": 0,
        "available": NOMINAL,
    }


async def test_unanswered_applications_expire(gql, token, world, settings):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    other = await new_certificate(gql, token, "bob", "Кузнецов Илья Петрович", 9)
    alice = token("GUARDIAN", "alice")
    old = (await enroll(gql, token, "alice", cert["id"], world.group))["enrollment"]
    fresh = (await enroll(gql, token, "bob", other["id"], world.group))["enrollment"]
    async with world.engine.begin() as conn:
        await conn.execute(
            text("UPDATE enrollments SET created_at = now() - interval '6 days' WHERE id = :id"),
            {"id": pk(old["id"])},
        )
    # a stale application can no longer be accepted, even before the job has run
    stale = await decide(gql, ACCEPT, old["id"], provider_token(token))
    assert stale["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert "5" in stale["userErrors"][0]["message"]

    result = await run_housekeeping(world.engine, settings, datetime.now(UTC).date())
    assert result["applications_expired"] == 1
    assert await enrollment.expire_stale_applications(world.engine, 5) == 0  # idempotent
    q = "query($id: ID!) { node(id: $id) { ... on Enrollment { status reserved { kopecks } } } }"
    assert (await gql(q, {"id": old["id"]}, token=alice))["data"]["node"] == {
        "status": "EXPIRED",
        "reserved": {"kopecks": 0},
    }
    assert (await gql(q, {"id": fresh["id"]}, token=token("GUARDIAN", "bob")))["data"]["node"]["status"] == "REQUESTED"
    assert (await balance(gql, alice, cert["id"]))["available"] == NOMINAL
    # with a clock five days and a minute ahead, the other one expires too
    later = datetime.now(UTC) + timedelta(days=5, minutes=1)
    assert await enrollment.expire_stale_applications(world.engine, 5, now=later) == 1
