"""The audit log of personal-data reads: operators' and providers' reads are written (who, whose,
which fields, when, the request id) in the same request, one INSERT per request; guardians' reads of
their own children are not; the log is append-only in the database; each operator sees its own
municipality's entries only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pdo_graph.db.session import sqlstate
from tests.enrollment.conftest import PROVIDER_INN, enroll, provider_token
from tests.helpers import new_certificate, recorded_statements

AUDIT = """query($first: Int!, $after: String, $child: ID) { auditLog(first: $first, after: $after, childId: $child) {
  edges { cursor node { id at actorRole actorSubject fields requestId child { id } } }
  pageInfo { hasNextPage endCursor } } }"""
ENTRIES_WRITTEN: list[int] = []


async def audit_rows(engine: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar_one())


async def read(gql: Any, query: str, variables: dict[str, Any], token: str) -> tuple[dict[str, Any], str]:
    body = await gql(query, variables, token=token)
    assert not body.get("errors"), body
    return body["data"], body["extensions"]["requestId"]


async def test_operator_and_provider_reads_are_audited_guardian_reads_are_not(gql, token, world):
    cert = await new_certificate(gql, token, "alice", "Лебедев Роман Ильич", 9)
    other = await new_certificate(gql, token, "bob", "Орлова Вера Павловна", 10)
    enrollment = (await enroll(gql, token, "alice", cert["id"], world.group))["enrollment"]["id"]
    alice, op = token("GUARDIAN", "alice"), token("OPERATOR", "op-01", municipality="01")
    assert await audit_rows(world.engine) == 0  # applying, issuing and enrolling read no one's data

    mine, _ = await read(
        gql,
        """{ viewer { children { id fullName birthDate snils
            enrollments(first: 5) { edges { node { pupil { fullName age } child { fullName } } } } } } }""",
        {},
        alice,
    )
    child = mine["viewer"]["children"][0]["id"]
    assert await audit_rows(world.engine) == 0, "a guardian reading its own child is not audited"

    by_number = "query($n: String!) { certificateByNumber(number: $n) { child { fullName birthDate } } }"
    _, r1 = await read(gql, by_number, {"n": cert["number"]}, op)
    queue = "{ providerEnrollments(first: 10) { edges { node { pupil { fullName age } } } } }"
    _, r2 = await read(gql, queue, {}, provider_token(token))
    _, r3 = await read(gql, "query($id: ID!) { node(id: $id) { ... on Child { fullName } } }", {"id": child}, op)
    _, r4 = await read(
        gql, "query($id: ID!) { node(id: $id) { ... on Enrollment { child { birthDate } } } }", {"id": enrollment}, op
    )
    _, r5 = await read(gql, by_number, {"n": other["number"]}, op)
    # reading without personal fields is not a personal-data read
    await read(
        gql, "query($n: String!) { certificateByNumber(number: $n) { child { id } } }", {"n": cert["number"]}, op
    )

    log, _ = await read(gql, AUDIT, {"first": 10, "child": child}, op)
    entries = [e["node"] for e in log["auditLog"]["edges"]]
    assert [(e["requestId"], e["actorRole"], e["actorSubject"], e["fields"]) for e in entries] == [
        (r4, "OPERATOR", "op-01", ["birthDate"]),
        (r3, "OPERATOR", "op-01", ["fullName"]),
        (r2, "PROVIDER", f"staff-{PROVIDER_INN}", ["age", "fullName"]),
        (r1, "OPERATOR", "op-01", ["birthDate", "fullName"]),
    ]
    assert {e["child"]["id"] for e in entries} == {child}
    assert entries[0]["at"] >= entries[-1]["at"]
    everything, _ = await read(gql, AUDIT, {"first": 10}, op)
    assert [e["node"]["requestId"] for e in everything["auditLog"]["edges"]] == [r5, r4, r3, r2, r1]

    # keyset pages, newest first
    page, _ = await read(gql, AUDIT, {"first": 2}, op)
    assert page["auditLog"]["pageInfo"]["hasNextPage"] is True
    rest, _ = await read(gql, AUDIT, {"first": 10, "after": page["auditLog"]["pageInfo"]["endCursor"]}, op)
    assert [e["node"]["requestId"] for e in rest["auditLog"]["edges"]] == [r3, r2, r1]

    # another municipality's operator, the guardian and the provider see nothing
    for outsider in (token("OPERATOR", "op-02", municipality="02"), alice, provider_token(token)):
        seen, _ = await read(gql, AUDIT, {"first": 10}, outsider)
        assert seen["auditLog"]["edges"] == []
    ENTRIES_WRITTEN.append(await audit_rows(world.engine))
    assert ENTRIES_WRITTEN[-1] == 5
    print(f"audit entries written: {ENTRIES_WRITTEN[-1]}")


async def test_one_insert_per_request_however_many_children(gql, token, world):
    for i, subject in enumerate(("alice", "bob", "carol")):
        cert = await new_certificate(gql, token, subject, f"Ребёнок{i} Тестов Тестович", 8 + i)
        await enroll(gql, token, subject, cert["id"], world.group)
    with recorded_statements(world.engine) as statements:
        body = await gql(
            "{ providerEnrollments(first: 10) { edges { node { pupil { fullName age } } } } }",
            token=provider_token(token),
        )
    assert len(body["data"]["providerEnrollments"]["edges"]) == 3
    inserts = [s for s in statements if s.lstrip().startswith("INSERT INTO audit_log")]
    assert len(inserts) == 1, statements
    assert await audit_rows(world.engine) == 3


async def test_the_database_refuses_to_change_or_delete_entries(gql, token, world):
    cert = await new_certificate(gql, token, "alice", "Лебедев Роман Ильич", 9)
    op = token("OPERATOR", "op-01", municipality="01")
    await read(
        gql, "query($n: String!) { certificateByNumber(number: $n) { child { fullName } } }", {"n": cert["number"]}, op
    )
    for statement in ("UPDATE audit_log SET actor_subject = 'nobody'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError) as refused:
            async with world.engine.begin() as conn:
                await conn.execute(text(statement))
        assert sqlstate(refused.value) == "42501", statement
    assert await audit_rows(world.engine) == 1


async def test_no_personal_data_leaves_when_the_audit_cannot_be_written(gql, token, world):
    cert = await new_certificate(gql, token, "alice", "Лебедев Роман Ильич", 9)
    async with world.engine.begin() as conn:
        await conn.execute(
            text("ALTER TABLE audit_log ADD CONSTRAINT test_blocked CHECK (actor_subject <> 'blocked') NOT VALID")
        )
    try:
        body = await gql(
            "query($n: String!) { certificateByNumber(number: $n) { child { fullName } } }",
            {"n": cert["number"]},
            token=token("OPERATOR", "blocked", municipality="01"),
        )
    finally:
        async with world.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE audit_log DROP CONSTRAINT test_blocked"))
    assert "Лебедев" not in str(body)
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
