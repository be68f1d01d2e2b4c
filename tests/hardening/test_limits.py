"""Hostile documents are refused before touching the database; cost is reported on every response."""

from __future__ import annotations

import httpx
from graphql import parse

from pdo_graph.graphql_schema import build_schema
from pdo_graph.limits import Invalid, Refused, query_cost
from tests.helpers import recorded_statements

SCHEMA = build_schema().gate.schema


async def post(app, query: str, variables: dict | None = None, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def test_cost_multiplies_first_down_the_selection():
    q = "query($n: Int!) { programs(first: $n) { edges { node { id groups(first: 10) { edges { node { id } } } } } } }"
    # programs: 1 + 20 × (edges: 1 + (node: 1 + (id 1 + groups: 1 + 10 × (edges 1 + (node 1 + id 1)))))
    assert query_cost(parse(q), None, {"n": 20}, SCHEMA) == 1 + 20 * (1 + 1 + 1 + 1 + 10 * 3)
    frag = "{ ...F } fragment F on Query { viewer { role } }"
    assert query_cost(parse(frag), None, {}, SCHEMA) == 2


async def test_hostile_documents_are_refused_without_the_database(app, engine, db):
    depth = "{ viewer { " + "children { certificate { child { " * 16 + "id" + " } } }" * 16 + " } }"
    aliases = "{ " + " ".join(f"a{i}: municipalities {{ code }}" for i in range(1000)) + " }"
    huge = "{ municipalities { code } }" + " " * (2 * 1024 * 1024)
    bomb = (
        "{ programs(first: 100) { edges { node { groups(first: 100) { edges { node { program { "
        "groups(first: 100) { edges { node { id } } } } } } } } } } }"
    )
    with recorded_statements(engine) as seen:
        for name, query in {"depth 50": depth, "1000 aliases": aliases, "cost bomb": bomb}.items():
            r = await post(app, query)
            body = r.json()
            assert body.get("data") is None, name
            assert body["errors"][0]["message"], name
        r = await post(app, huge)
        assert r.status_code == 413
    assert seen == [], "a hostile document reached the database"


async def test_cost_is_reported_and_first_is_bounded(app, db):
    r = await post(app, "{ viewer { role } }")
    assert r.json()["extensions"]["cost"] == 2
    r = await post(app, "{ programs(first: 101) { totalCount } }")
    body = r.json()
    assert "errors" in body and "first" in body["errors"][0]["message"]


async def test_batching_and_suggestions_are_off(app, db):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/graphql", json=[{"query": "{ viewer { role } }"}])
    assert r.status_code == 400
    r = await post(app, "{ municipalitie { code } }")
    message = r.json()["errors"][0]["message"]
    assert "Did you mean" not in message


async def test_unexpected_errors_are_masked(app, db):
    r = await post(app, '{ node(id: "Q2hpbGQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5") { id } }')
    assert r.status_code == 200
    assert r.json()["data"] == {"node": None}
    assert r.headers["x-request-id"]


async def test_failing_field_beside_running_queries_is_not_a_500(gql, token):
    from tests.helpers import new_certificate

    await new_certificate(gql, token, "alice", "Смирнова Ева Олеговна", 9)
    await new_certificate(gql, token, "alice", "Смирнов Лев Олегович", 12)
    q = """{ viewer { children { certificate { number transactions(first: 5) { totalCount } }
             enrollments(first: 1000) { totalCount } } } }"""
    for _ in range(5):
        body = await gql(q, token=token("GUARDIAN", "alice"))
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    ok = await gql("{ viewer { children { fullName } } }", token=token("GUARDIAN", "alice"))
    assert len(ok["data"]["viewer"]["children"]) == 2


# --- the gate: every hostile document of issue 10 is refused before execution, with a code ---------

GRAPHQL_RESPONSE = {"accept": "application/graphql-response+json"}


def fragment_chain(n: int) -> str:
    body = "".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }} " for i in range(n))
    return "query { ...F0 } " + body + f"fragment F{n} on Query {{ municipalities {{ code }} }}"


def escaped_quotes(size: int) -> str:
    return '"' + '\\"' * ((size - 1) // 2)


async def refusal(app, payload: dict, **headers: str) -> tuple[int, dict]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/graphql", json=payload, headers=headers)
    body = r.json()
    assert body.get("data") is None, body
    return r.status_code, body["errors"][0]


async def test_issue_documents_are_refused_with_a_code(app, engine, settings, db):
    costly = (
        "query Costly { programs(first: 100) { edges { node { groups(first: 100) { edges { node { program { "
        "groups(first: 100) { edges { node { id } } } } } } } } } } }"
    )
    cases = {
        "fragment chain of 22": ({"query": fragment_chain(22)}, 400, "QUERY_TOO_COMPLEX"),
        "fragment chain of 60": ({"query": fragment_chain(60)}, 400, "QUERY_TOO_COMPLEX"),
        "escaped quotes 28 KB": ({"query": escaped_quotes(28 * 1024)}, 400, "GRAPHQL_PARSE_FAILED"),
        "escaped quotes 64 KB": ({"query": escaped_quotes(64 * 1024)}, 400, "GRAPHQL_PARSE_FAILED"),
        "escaped quotes 1.5 MB": (
            {"query": escaped_quotes(settings.max_body_bytes // 2 - 64)},
            400,
            "QUERY_TOO_LARGE",
        ),
        "two operations, no name": ({"query": costly + " query Cheap { __typename }"}, 400, "OPERATION_NAME_REQUIRED"),
        "name the document lacks": (
            {"query": "query A { __typename }", "operationName": "B"},
            400,
            "OPERATION_NOT_FOUND",
        ),
        "fragments only": ({"query": "fragment F on Query { __typename }"}, 400, "NO_OPERATION"),
        "the costly one named": (
            {"query": costly + " query Cheap { __typename }", "operationName": "Costly"},
            400,
            "QUERY_TOO_COSTLY",
        ),
        "450 same-name fields": ({"query": "{ " + "municipalities { code } " * 450 + "}"}, 400, "QUERY_TOO_COMPLEX"),
        "nested repeats 20 × 20": (
            {"query": "{ " + ("programs(first: 1) { edges { node { " + "provider { id } " * 20 + "} } } ") * 20 + "}"},
            400,
            "QUERY_TOO_COMPLEX",
        ),
        "brackets 100 deep": ({"query": "{ a(x: " + "[" * 100 + "1" + "]" * 100 + ") }"}, 400, "QUERY_TOO_DEEP"),
        "unterminated block string": ({"query": '{ a(x: """' + "x" * 5000 + " }"}, 400, "GRAPHQL_PARSE_FAILED"),
        "a flood of comments": ({"query": "{ viewer { role } }\n" + "#\n" * 20_000}, 400, "QUERY_TOO_LARGE"),
        "unknown fragment": ({"query": "{ ...Nope }"}, 400, "GRAPHQL_VALIDATION_FAILED"),
        "fragment cycle": (
            {"query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"},
            400,
            "GRAPHQL_VALIDATION_FAILED",
        ),
    }
    with recorded_statements(engine) as seen:
        for name, (payload, status, code) in cases.items():
            got_status, error = await refusal(app, payload, **GRAPHQL_RESPONSE)
            assert (got_status, error["extensions"]["code"]) == (status, code), (name, error)
            assert error["message"], name
    assert seen == [], "a hostile document reached the database"


async def test_operation_refusals_are_400_in_plain_json_too_and_speak_english(app, db):
    status, error = await refusal(app, {"query": "fragment F on Query { __typename }"}, **{"accept-language": "en"})
    assert status == 400 and error["extensions"]["code"] == "NO_OPERATION"
    assert error["message"] == "The document has no operation (only fragments)"
    status, error = await refusal(app, {"query": "query A { __typename } query B { __typename }"})
    assert status == 400 and error["extensions"]["code"] == "OPERATION_NAME_REQUIRED"
    assert "operationName" in error["message"]


async def test_the_named_operation_runs_and_is_costed_alone(app, db):
    costly = "query Costly { programs(first: 100) { edges { node { groups(first: 100) { totalCount } } } } }"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post(
            "/graphql", json={"query": costly + " query Cheap { viewer { role } }", "operationName": "Cheap"}
        )
    body = r.json()
    assert body["data"] == {"viewer": {"role": None}}
    assert body["extensions"]["cost"] == 2


def test_the_gate_costs_a_document_again_for_other_first_variables():
    """The gate remembers an operation's cost by its text and its `first` variables: another `first`
    (in the operation or in a fragment), or one that is no count, costs what the document says."""
    gate = build_schema().gate
    q = (
        "query($n: Int!, $m: Int!, $s: String) { programs(first: $n, search: $s) { edges { node { ...G } } } }"
        " fragment G on Program { id groups(first: $m) { edges { node { id } } } }"
    )
    document = parse(q)
    for variables in (
        {"n": 20, "m": 10, "s": "a"},
        {"n": 20, "m": 10, "s": "b"},
        {"n": 50, "m": 10},
        {"n": 20, "m": 3},
        {"n": 0, "m": 10},
        {"n": True, "m": "10"},
        {},
    ):
        prepared = gate.prepare(q, None, variables)
        assert not isinstance(prepared, Refused | Invalid), prepared
        assert prepared.cost == query_cost(document, None, variables, SCHEMA), variables
    assert gate.prepare(q, None, {"n": 20, "m": 10}).cost == 1 + 20 * (1 + 1 + 1 + 1 + 10 * 3)  # type: ignore[union-attr]


def test_token_scan_is_exact_on_ordinary_documents():
    from pdo_graph.limits import scan

    doc = 'query A($x: [Int!]! = 1.5e3) { a(s: "he\\"llo", t: """bl\\"""ock""") ...F # comment\n }'
    assert scan(doc, 100).tokens == 27
    assert scan(doc, 100).nesting == 2
    assert not scan(doc, 100).unterminated
    assert scan('{ a(x: "open', 100).unterminated
    assert scan('{ a(x: """open', 100).unterminated
    assert scan('{ a(x: "\\"', 100).unterminated  # the last quote is escaped
    assert scan("{ " + "a " * 50 + "}", 10).tokens == 11  # counting stops past the limit


def test_the_escaped_quote_string_scans_as_one_token_at_any_size():
    from pdo_graph.limits import scan

    for size in (28 * 1024, 64 * 1024, 1536 * 1024):
        result = scan(escaped_quotes(size), 3000)
        assert (result.tokens, result.unterminated) == (1, True)


def test_cost_is_computed_once_per_fragment():
    # 2^80 expansions if fragments were walked at every spread; memoized it is one walk per fragment.
    doc = parse(fragment_chain(80))
    assert query_cost(doc, None, {}, SCHEMA) == 2**80 * (1 + 100)


def test_list_fields_count_with_their_bound():
    from pdo_graph.limits import LIST_WEIGHTS

    q = '{ quote(certificateId: "x", groupId: "y") { monthly { month fromFamily { kopecks } } } }'
    # quote 1 + (monthly 1 + 36 × (month 1 + fromFamily (1 + kopecks 1)))
    assert query_cost(parse(q), None, {}, SCHEMA) == 1 + 1 + 36 * 3
    assert (
        query_cost(parse("{ municipalities { code } }"), None, {}, SCHEMA)
        == 1 + LIST_WEIGHTS[("Query", "municipalities")]
    )


def test_every_list_field_of_the_schema_has_a_documented_bound():
    from graphql import GraphQLInterfaceType, GraphQLList, GraphQLNonNull, GraphQLObjectType

    from pdo_graph.limits import LIST_WEIGHTS, SMALL_LISTS

    unbounded = []
    for type_ in SCHEMA.type_map.values():
        if type_.name.startswith("__") or not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for name, field in type_.fields.items():
            t = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if not isinstance(t, GraphQLList) or name in SMALL_LISTS or "first" in field.args:
                continue
            if name == "edges" and type_.name.endswith("Connection"):
                continue
            if (type_.name, name) not in LIST_WEIGHTS:
                unbounded.append(f"{type_.name}.{name}")
    assert unbounded == []


def test_depth_and_aliases_count_through_fragments_once_each():
    from pdo_graph.limits import Limits, Refused

    gate = build_schema().gate
    limits: Limits = gate.limits
    deep = "{ viewer { " + "children { certificate { child { " * 5 + "id" + " } } }" * 5 + " } }"
    refused = gate.prepare(deep, None, {})
    assert isinstance(refused, Refused) and refused.code == "QUERY_TOO_DEEP"
    spread = (
        "query { ...A ...A } fragment A on Query { " + " ".join(f"a{i}: viewer {{ role }}" for i in range(16)) + " }"
    )
    refused = gate.prepare(spread, None, {})
    assert isinstance(refused, Refused) and refused.code == "QUERY_TOO_MANY_ALIASES"
    assert refused.params["count"] == 32 > limits.max_aliases
    introspection = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }"
    assert not isinstance(gate.prepare(introspection, None, {}), Refused)


def test_fragment_reuse_of_ordinary_clients_passes_the_overlap_bound():
    from pdo_graph.limits import Prepared, Refused

    gate = build_schema().gate
    fragments = "".join(f"fragment F{i} on Program {{ id title provider {{ id name }} }} " for i in range(10))
    spreads = " ".join(f"...F{i}" for i in range(10))
    ordinary = "{ programs(first: 5) { edges { node { " + spreads + " } } } } " + fragments
    assert isinstance(gate.prepare(ordinary, None, {}), Prepared)
    # the same fields, but each repeat of `node` repeats its children too: 20 × 20 = 400 to compare
    nested = "{ " + ("programs(first: 1) { edges { node { " + "provider { id } " * 20 + "} } } ") * 20 + "}"
    refused = gate.prepare(nested, None, {})
    assert isinstance(refused, Refused) and refused.code == "QUERY_TOO_COMPLEX"
