"""One text hygiene for every input: control characters, unpaired surrogates and over-long strings are
refused as INVALID with the path of the string, before any resolver runs (issue 10, item 2)."""

from __future__ import annotations

import httpx
import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLScalarType
from sqlalchemy import text

from pdo_graph.domain.errors import ErrorCode
from pdo_graph.domain.text import MAX_ID, MAX_TEXT, text_problem
from pdo_graph.graphql_schema import build_schema
from pdo_graph.ids import encode_id
from pdo_graph.schema import hygiene
from tests.helpers import APPLY, new_certificate, years_ago

FREEZE = """mutation($id: ID!, $reason: String) { certificateFreeze(input: {certificateId: $id, reason: $reason}) {
  certificate { status } userErrors { code field message } } }"""
ENROLL = """mutation($c: ID!, $g: ID!, $k: String!) { enrollmentCreate(input: {certificateId: $c, groupId: $g,
  idempotencyKey: $k}) { enrollment { id } userErrors { code field message } } }"""
BY_NUMBER = "query($n: String!) { certificateByNumber(number: $n) { number } }"


async def rows(db, table: str) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("a\x00b", "text_control"),
        ("a\x1bb", "text_control"),
        ("a\x7fb", "text_control"),
        ("a\x85b", "text_control"),
        ("a\ud800b", "text_surrogate"),
        ("x" * (MAX_TEXT + 1), "text_too_long"),
    ],
)
def test_the_rule_refuses(value, key):
    problem = text_problem(value, ["input", "x"])
    assert problem is not None and (problem.code, problem.key, problem.field) == (
        ErrorCode.INVALID,
        key,
        ["input", "x"],
    )


def test_free_text_keeps_tabs_and_line_breaks_identifiers_do_not():
    assert text_problem("Переезд\r\nв другой\tгород", ["input", "reason"]) is None
    assert text_problem("x" * MAX_TEXT, ["input", "reason"]) is None
    assert text_problem("abc\n", ["input", "id"], identifier=True).key == "text_control"
    assert text_problem("a" * (MAX_ID + 1), ["input", "id"], identifier=True).key == "text_too_long"
    # look-alikes, invisible format characters and other digits are the identity rules' business
    assert text_problem("Иванов\u200b Иван ¹²³ ٣", ["input", "fullName"]) is None


async def test_nul_in_a_name_is_a_user_error_and_nothing_is_written(gql, token, db):
    variables = {"input": {"fullName": "Петров\x00 Иван", "birthDate": years_ago(9).isoformat(), "municipality": "01"}}
    body = await gql(APPLY, variables, token=token("GUARDIAN", "alice"))
    payload = body["data"]["certificateApply"]
    assert payload["application"] is None
    assert payload["userErrors"] == [
        {
            "code": "INVALID",
            "field": ["input", "fullName"],
            "message": "Текст содержит недопустимый управляющий символ (U+0000)",
        }
    ]
    assert await rows(db, "children") == 0 and await rows(db, "guardians") == 0


async def test_literal_strings_are_checked_like_variables_and_messages_follow_the_language(gql, token, db):
    query = """mutation { certificateApply(input: {fullName: "Петров\\u0000 Иван", birthDate: "2016-05-14",
      municipality: "01"}) { application { id } userErrors { code field message } } }"""
    body = await gql(query, token=token("GUARDIAN", "alice"), lang="en")
    [error] = body["data"]["certificateApply"]["userErrors"]
    assert error == {
        "code": "INVALID",
        "field": ["input", "fullName"],
        "message": "The text contains a control character (U+0000)",
    }


async def test_nul_in_a_reason_keeps_the_certificate_as_it_was(gql, token, db):
    cert = await new_certificate(gql, token, "alice", "Смирнова Ева Олеговна", 9)
    operator = token("OPERATOR", "op-01", municipality="01")
    body = await gql(FREEZE, {"id": cert["id"], "reason": "по\x00ошибке"}, token=operator)
    payload = body["data"]["certificateFreeze"]
    assert payload["certificate"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["input", "reason"])]
    status = await gql(BY_NUMBER, {"n": cert["number"]}, token=operator)
    assert status["data"]["certificateByNumber"]["number"] == cert["number"]
    # a line break in free text is fine
    ok = await gql(FREEZE, {"id": cert["id"], "reason": "Переезд\nв другой город"}, token=operator)
    assert ok["data"]["certificateFreeze"]["certificate"]["status"] == "FROZEN"


async def test_nul_in_an_idempotency_key_and_control_characters_in_ids(gql, token, db):
    guardian = token("GUARDIAN", "alice")
    cert, group = encode_id("Certificate", 1), encode_id("Group", 1)
    body = await gql(ENROLL, {"c": cert, "g": group, "k": "key\x00"}, token=guardian)
    payload = body["data"]["enrollmentCreate"]
    assert payload["enrollment"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["input", "idempotencyKey"])]
    body = await gql(ENROLL, {"c": cert + "\n", "g": "g" * (MAX_ID + 1), "k": "k"}, token=guardian)
    assert [(e["code"], e["field"]) for e in body["data"]["enrollmentCreate"]["userErrors"]] == [
        ("INVALID", ["input", "certificateId"]),
        ("INVALID", ["input", "groupId"]),
    ]
    assert await rows(db, "enrollments") == 0


async def test_nul_in_a_certificate_number_is_an_invalid_query_argument(gql, token, db):
    body = await gql(BY_NUMBER, {"n": "7701\x0000001"}, token=token("OPERATOR", "op-01", municipality="01"))
    assert body["data"] == {"certificateByNumber": None}
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INVALID", "field": ["number"], "requestId": body["extensions"]["requestId"]}
    assert error["path"] == ["certificateByNumber"]


@pytest.mark.parametrize(
    ("query", "field", "path"),
    [
        ('{ certificateByNumber(number: "7701\\u001b00001") { number } }', ["number"], ["certificateByNumber"]),
        (
            '{ certificateApplications(first: 5, search: "Пе\\u0000тров") { totalCount } }',
            ["search"],
            ["certificateApplications"],
        ),
        ('{ programs(first: 1, after: "\\u0001") { totalCount } }', ["after"], ["programs"]),
    ],
)
async def test_literal_arguments_of_queries_are_checked_on_every_execution_path(gql, token, db, query, field, path):
    # a document without variables takes the compiled plan (transport/plans.py) from its second
    # request on: the literal must be refused the same way each time
    operator = token("OPERATOR", "op-01", municipality="01")
    for _ in range(3):
        body = await gql(query, token=operator)
        [error] = body["errors"]
        assert error["extensions"] == {"code": "INVALID", "field": field, "requestId": body["extensions"]["requestId"]}
        assert error["path"] == path


async def test_nested_field_arguments_are_checked_too(gql, token, db):
    cert = await new_certificate(gql, token, "alice", "Смирнова Ева Олеговна", 9)
    query = """query($n: String!, $after: String) { certificateByNumber(number: $n) {
      transactions(first: 5, after: $after) { totalCount } } }"""
    body = await gql(query, {"n": cert["number"], "after": "\x01"}, token=token("GUARDIAN", "alice"))
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INVALID", "field": ["after"], "requestId": body["extensions"]["requestId"]}
    assert error["path"] == ["certificateByNumber", "transactions"]


async def test_snils_in_superscript_digits_is_not_a_server_error(gql, token, db):
    variables = {
        "input": {
            "fullName": "Петров Иван Сергеевич",
            "birthDate": years_ago(9).isoformat(),
            "municipality": "01",
            "snils": "¹¹²²³³⁴⁴⁵⁹⁵",
        }
    }
    body = await gql(APPLY, variables, token=token("GUARDIAN", "alice"))
    assert "errors" not in body, body
    payload = body["data"]["certificateApply"]
    assert payload["application"] is not None or payload["userErrors"][0]["code"] == "INVALID"


async def test_unpaired_surrogates_never_reach_the_schema(app, db):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        raw = (
            b'{"query": "query($n: String!) { certificateByNumber(number: $n) { id } }", "variables": {"n": "\\ud800"}}'
        )
        r = await client.post("/graphql", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 400
        r = await client.post("/graphql", json={"query": '{ certificateByNumber(number: "\\uD800") { id } }'})
        assert r.status_code == 200 and r.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


def test_every_field_that_takes_text_is_guarded_and_every_mutation_can_refuse():
    schema = build_schema()._schema

    def takes_text(t) -> bool:
        return hygiene._carries_text(t)

    expected = {
        f"{type_.name}.{name}"
        for type_ in schema.type_map.values()
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__")
        for name, field in type_.fields.items()
        if any(takes_text(a.type) for a in field.args.values())
    }
    guarded = {
        f"{type_.name}.{name}"
        for type_ in schema.type_map.values()
        if isinstance(type_, GraphQLObjectType)
        for name, field in type_.fields.items()
        if getattr(field.resolve, "__pdo_text_hygiene__", False)
    }
    assert expected == guarded and "Query.node" in guarded and "Program.groups" in guarded
    assert hygiene._carries_text(GraphQLNonNull(GraphQLScalarType("Plain"))) is False
    for name, field in schema.mutation_type.fields.items():
        payload = hygiene.refusal_builder(field.type)([])
        assert payload.user_errors == [], name


async def test_crafted_cursors_are_malformed_not_server_errors(gql, token, db):
    import base64
    import json

    def cursor(values) -> str:
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    cert = await new_certificate(gql, token, "alice", "Смирнова Ева Олеговна", 9)
    guardian = token("GUARDIAN", "alice")
    pages = (
        f'{{ certificateByNumber(number: "{cert["number"]}") {{ transactions(first: 5, after: "%s") {{ totalCount }} }} }}',
        f'{{ programReviews(programId: "{encode_id("Program", 1)}", first: 5, after: "%s") {{ totalCount }} }}',
        '{ providerEnrollments(first: 5, after: "%s") { totalCount } }',
    )
    crafted = (["\u0000", 1], ["x"], [1.5], [2**70], [{"a": 1}], [], [True], [1, 2])
    for page in pages:
        for values in crafted:
            body = await gql(page % cursor(values), token=guardian)
            codes = [e["extensions"]["code"] for e in body.get("errors") or []]
            assert "INTERNAL_SERVER_ERROR" not in codes, (page, values, body)
        ok = await gql(page % cursor([1]), token=guardian)
        assert "errors" not in ok or ok["errors"][0]["extensions"]["code"] != "INTERNAL_SERVER_ERROR"
    body = await gql(pages[0] % cursor(["\u0000", 1]), token=guardian)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
