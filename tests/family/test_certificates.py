"""Certificates through the API: one application per child, issuance, statuses, isolation."""

from __future__ import annotations

import re
from datetime import date

from pdo_graph.domain.identifiers import snils_with_checksum
from pdo_graph.domain.people import certificate_valid_until
from tests.helpers import APPLY, apply, issue, new_certificate, years_ago

SNILS = snils_with_checksum("112233445")


async def test_apply_once_per_child_by_snils_or_name_and_birth_date(gql, token):
    alice, bob = token("GUARDIAN", "alice"), token("GUARDIAN", "bob")
    birth = years_ago(9)
    first = await apply(gql, alice, "Иванов Пётр Сергеевич", birth, snils=SNILS)
    assert first["userErrors"] == []
    assert first["application"]["status"] == "SUBMITTED"
    assert first["application"]["child"]["fullName"] == "Иванов Пётр Сергеевич"

    # the same СНИЛС under another name, by another guardian: the known fraud
    by_snils = await apply(gql, bob, "Петров Иван Сергеевич", birth, snils=SNILS)
    assert by_snils["application"] is None
    assert by_snils["userErrors"][0]["code"] == "DUPLICATE"
    assert "уже подано" in by_snils["userErrors"][0]["message"]

    # the same name (other case, ё/е, spaces) and birth date, without СНИЛС
    by_name = await apply(gql, alice, "  иванов  петр сергеевич ", birth)
    assert by_name["userErrors"][0]["code"] == "DUPLICATE"

    english = await apply(gql, bob, "Иванов Пётр Сергеевич", birth, lang="en")
    assert english["userErrors"][0]["message"].startswith("An application for this child already exists")

    # a twin with another name is a different child
    twin = await apply(gql, alice, "Иванова Мария Сергеевна", birth)
    assert twin["userErrors"] == []


async def test_apply_validation_is_typed_and_writes_nothing(gql, token):
    alice = token("GUARDIAN", "alice")
    bad = await apply(gql, alice, "Иванов Пётр", years_ago(9), snils="123-456-789 00")
    assert [e["code"] for e in bad["userErrors"]] == ["INVALID"]
    assert bad["userErrors"][0]["field"] == ["input", "snils"]
    future = await apply(gql, alice, "Иванов Пётр", date(2999, 1, 1))
    assert future["userErrors"][0]["field"] == ["input", "birthDate"]
    adult = await apply(gql, alice, "Иванов Пётр", years_ago(18))
    assert "18" in adult["userErrors"][0]["message"]
    unknown = await apply(gql, alice, "Иванов Пётр", years_ago(9), municipality="99")
    assert unknown["userErrors"][0]["field"] == ["input", "municipality"]
    body = await gql("{ viewer { children { id } certificateApplications { id } } }", token=alice)
    assert body["data"]["viewer"] == {"children": [], "certificateApplications": []}


async def test_anonymous_and_wrong_roles(gql, token):
    body = await gql(APPLY, {"input": {"fullName": "Иванов Пётр", "birthDate": "2016-01-01", "municipality": "01"}})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    as_operator = await apply(gql, token("OPERATOR", "op", municipality="01"), "Иванов Пётр", years_ago(9))
    assert as_operator["userErrors"][0]["code"] == "FORBIDDEN"


async def test_issue_number_format_uniqueness_and_validity(gql, token):
    birth = date(2016, 2, 29)
    a = await apply(gql, token("GUARDIAN", "alice"), "Сидорова Анна Ивановна", birth, snils=SNILS)
    b = await apply(gql, token("GUARDIAN", "bob"), "Кузнецов Илья Петрович", years_ago(12), municipality="02")
    c = await apply(gql, token("GUARDIAN", "carol"), "Орлов Денис Олегович", years_ago(7))
    op1 = token("OPERATOR", "op1", municipality="01")
    op2 = token("OPERATOR", "op2", municipality="02")

    # an operator of another municipality may not issue
    foreign = await issue(gql, op2, a["application"]["id"])
    assert foreign["userErrors"][0]["code"] == "FORBIDDEN"

    ca = await issue(gql, op1, a["application"]["id"])
    cb = await issue(gql, op2, b["application"]["id"])
    cc = await issue(gql, op1, c["application"]["id"])
    numbers = [x["certificate"]["number"] for x in (ca, cb, cc)]
    assert numbers == ["7701000001", "7702000001", "7701000002"]
    assert all(re.fullmatch(r"\d{10}", n) for n in numbers)
    assert ca["certificate"]["status"] == "ACTIVE"
    # born on 29 February 2016: 18 on 1 March 2034, valid through 28 February 2034
    assert ca["certificate"]["validUntil"] == "2034-02-28"
    assert certificate_valid_until(date(2010, 6, 15)) == date(2028, 6, 14)

    again = await issue(gql, op1, a["application"]["id"])
    assert again["userErrors"][0]["code"] == "INVALID_TRANSITION"
    bad_id = await issue(gql, op1, "not-an-id")
    assert bad_id["userErrors"][0]["code"] == "NOT_FOUND"


async def test_guardian_isolation(gql, token):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    alice, bob = token("GUARDIAN", "alice"), token("GUARDIAN", "bob")
    mine = await gql("{ viewer { children { id fullName certificate { id number } } } }", token=alice)
    child = mine["data"]["viewer"]["children"][0]
    assert child["certificate"]["number"] == cert["number"]

    theirs = await gql("{ viewer { children { id } } }", token=bob)
    assert theirs["data"]["viewer"]["children"] == []
    q = "query($id: ID!, $n: String!) { node(id: $id) { id } byNumber: certificateByNumber(number: $n) { id } }"
    for node_id in (child["id"], cert["id"]):
        body = await gql(q, {"id": node_id, "n": cert["number"]}, token=bob)
        assert body["data"] == {"node": None, "byNumber": None}
        anonymous = await gql(q, {"id": node_id, "n": cert["number"]})
        assert anonymous["data"] == {"node": None, "byNumber": None}
        other_operator = await gql(
            q, {"id": node_id, "n": cert["number"]}, token=token("OPERATOR", "op2", municipality="02")
        )
        assert other_operator["data"] == {"node": None, "byNumber": None}
        provider = await gql(q, {"id": node_id, "n": cert["number"]}, token=token("PROVIDER", "p", provider="1"))
        assert provider["data"] == {"node": None, "byNumber": None}
    own = await gql(q, {"id": cert["id"], "n": cert["number"]}, token=alice)
    assert own["data"] == {"node": {"id": cert["id"]}, "byNumber": {"id": cert["id"]}}
    operator = await gql(q, {"id": cert["id"], "n": cert["number"]}, token=token("OPERATOR", "op", municipality="01"))
    assert operator["data"]["byNumber"] == {"id": cert["id"]}


STATUS = """
mutation($id: ID!) {
  freeze: certificateFreeze(input: {certificateId: $id, reason: "проверка"}) { certificate { status } userErrors { code } }
}"""


async def test_status_transitions(gql, token):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    op = token("OPERATOR", "op", municipality="01")

    async def change(name: str, who: str | None = None) -> dict:
        body = await gql(
            f"mutation($id: ID!) {{ r: {name}(input: {{certificateId: $id}}) {{ certificate {{ status }} "
            f"userErrors {{ code message }} }} }}",
            {"id": cert["id"]},
            token=who or op,
        )
        return body["data"]["r"]

    assert (await change("certificateUnfreeze"))["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert (await change("certificateFreeze", token("OPERATOR", "x", municipality="02")))["userErrors"][0][
        "code"
    ] == "FORBIDDEN"
    assert (await change("certificateFreeze", token("GUARDIAN", "alice")))["userErrors"][0]["code"] == "FORBIDDEN"
    assert (await change("certificateFreeze"))["certificate"]["status"] == "FROZEN"
    assert (await change("certificateUnfreeze"))["certificate"]["status"] == "ACTIVE"
    assert (await change("certificateRevoke"))["certificate"]["status"] == "REVOKED"
    assert (await change("certificateUnfreeze"))["userErrors"][0]["code"] == "INVALID_TRANSITION"
