"""The operator's verification queue: list (status, search, oldest first, pages, totalCount), issue,
reject with a reason; the guardian sees the reason and may apply again; one open application per child."""

from __future__ import annotations

from tests.helpers import apply, issue, years_ago

QUEUE = """query($first: Int!, $after: String, $status: CertificateApplicationStatus, $search: String) {
  certificateApplications(first: $first, after: $after, status: $status, search: $search) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id status rejectionReason createdAt child { fullName } } }
  }
}"""
REJECT = """mutation($id: ID!, $reason: String!) {
  certificateApplicationReject(input: {applicationId: $id, reason: $reason}) {
    application { id status rejectionReason } userErrors { code field message }
  }
}"""
MINE = "{ viewer { certificateApplications { id status rejectionReason } } }"


def names(body) -> list[str]:
    return [e["node"]["child"]["fullName"] for e in body["data"]["certificateApplications"]["edges"]]


async def test_the_operator_verifies_the_queue(gql, token):
    op = token("OPERATOR", "op-01", municipality="01")
    children = [
        ("alice", "Смирнова Анна Павловна"),
        ("bob", "Кузнецов Илья Петрович"),
        ("carol", "Орлова Ёлка Олеговна"),
    ]
    ids = {}
    for subject, name in children:
        applied = await apply(gql, token("GUARDIAN", subject), name, years_ago(9, days=10))
        assert applied["userErrors"] == []
        ids[subject] = applied["application"]["id"]
    other = await apply(gql, token("GUARDIAN", "dave"), "Жуков Пётр Ильич", years_ago(8), municipality="02")
    assert other["userErrors"] == []

    # oldest first, keyset pages, the total; another municipality's operator sees only its own
    first = (await gql(QUEUE, {"first": 2}, token=op))["data"]["certificateApplications"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["id"] for e in first["edges"]] == [ids["alice"], ids["bob"]]
    rest = await gql(QUEUE, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token=op)
    assert names(rest) == ["Орлова Ёлка Олеговна"]
    assert rest["data"]["certificateApplications"]["pageInfo"]["hasNextPage"] is False
    op02 = token("OPERATOR", "op-02", municipality="02")
    assert names(await gql(QUEUE, {"first": 10}, token=op02)) == ["Жуков Пётр Ильич"]
    # search by a part of the name, whatever the case and ё/е
    assert names(await gql(QUEUE, {"first": 10, "search": "елка"}, token=op)) == ["Орлова Ёлка Олеговна"]
    # guardians and providers have no queue
    assert (await gql(QUEUE, {"first": 10}, token=token("GUARDIAN", "alice")))["data"]["certificateApplications"][
        "totalCount"
    ] == 0

    # issue one, reject another with a reason (a reason is required; another municipality may not)
    assert (await issue(gql, op, ids["alice"]))["userErrors"] == []
    blank = (await gql(REJECT, {"id": ids["bob"], "reason": "  "}, token=op))["data"]["certificateApplicationReject"]
    assert [e["code"] for e in blank["userErrors"]] == ["INVALID"]
    foreign = (await gql(REJECT, {"id": ids["bob"], "reason": "нет"}, token=op02))["data"][
        "certificateApplicationReject"
    ]
    assert [e["code"] for e in foreign["userErrors"]] == ["FORBIDDEN"]
    reason = "Не приложено свидетельство о рождении"
    rejected = (await gql(REJECT, {"id": ids["bob"], "reason": reason}, token=op))["data"][
        "certificateApplicationReject"
    ]
    assert rejected["userErrors"] == [] and rejected["application"]["status"] == "REJECTED"
    again = (await gql(REJECT, {"id": ids["alice"], "reason": reason}, token=op))["data"][
        "certificateApplicationReject"
    ]
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_TRANSITION"]

    submitted = await gql(QUEUE, {"first": 10, "status": "SUBMITTED"}, token=op)
    assert names(submitted) == ["Орлова Ёлка Олеговна"]
    assert names(await gql(QUEUE, {"first": 10, "status": "REJECTED"}, token=op)) == ["Кузнецов Илья Петрович"]

    # the guardian sees status and reason, and may apply again for that child (once: one open application)
    mine = (await gql(MINE, token=token("GUARDIAN", "bob")))["data"]["viewer"]["certificateApplications"]
    assert mine == [{"id": ids["bob"], "status": "REJECTED", "rejectionReason": reason}]
    bob_birth = years_ago(9, days=10)
    second = await apply(gql, token("GUARDIAN", "bob"), "Кузнецов Илья Петрович", bob_birth)
    assert second["userErrors"] == [] and second["application"]["status"] == "SUBMITTED"
    third = await apply(gql, token("GUARDIAN", "bob"), "Кузнецов Илья Петрович", bob_birth)
    assert [e["code"] for e in third["userErrors"]] == ["DUPLICATE"]
    # another guardian for the same child is the known fraud: refused
    fraud = await apply(gql, token("GUARDIAN", "mallory"), "Кузнецов Илья Петрович", bob_birth)
    assert [e["code"] for e in fraud["userErrors"]] == ["DUPLICATE"]
    # an issued child cannot apply again
    issued_again = await apply(gql, token("GUARDIAN", "alice"), "Смирнова Анна Павловна", years_ago(9, days=10))
    assert [e["code"] for e in issued_again["userErrors"]] == ["DUPLICATE"]
    assert (await issue(gql, op, second["application"]["id"]))["userErrors"] == []
    mine = (await gql(MINE, token=token("GUARDIAN", "bob")))["data"]["viewer"]["certificateApplications"]
    assert [a["status"] for a in mine] == ["REJECTED", "ISSUED"]
