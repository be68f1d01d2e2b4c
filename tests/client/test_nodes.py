"""nodes(ids:): many objects by id, in the order asked, each checked as node(id:) checks it."""

from __future__ import annotations

from pdo_graph.ids import encode_id
from tests.catalog.steps import create_group, create_program, register_provider
from tests.helpers import new_certificate

NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Program { title } ... on Group { name } } }"


async def test_nodes_in_order_with_nulls_for_the_absent_and_the_hidden(gql, token, db):
    provider = await register_provider(gql, token)
    program = await create_program(gql, provider, title="Шахматы")
    group = await create_group(gql, provider, program["id"])
    cert = await new_certificate(gql, token, "alice", "Смирнова Ева Олеговна", 9)
    ids = [group["id"], "garbage", program["id"], encode_id("Program", 10**9), cert["id"], program["id"]]
    body = await gql(NODES, {"ids": ids})
    assert "errors" not in body, body
    nodes = body["data"]["nodes"]
    assert [n and n["__typename"] for n in nodes] == ["Group", None, "Program", None, None, "Program"]
    assert nodes[2]["title"] == "Шахматы" and nodes[0]["name"] == group["name"]
    mine = await gql(NODES, {"ids": [cert["id"]]}, token=token("GUARDIAN", "alice"))
    assert mine["data"]["nodes"] == [{"__typename": "Certificate", "id": cert["id"]}]
    assert (await gql(NODES, {"ids": []}))["data"]["nodes"] == []


async def test_nodes_are_bounded(gql, db):
    body = await gql(NODES, {"ids": [encode_id("Program", i) for i in range(1, 102)]}, lang="en")
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == ["ids"]
    assert error["message"] == "At most 100 ids in one request"
    assert (await gql(NODES, {"ids": [encode_id("Program", i) for i in range(1, 101)]}))["data"]["nodes"] == [
        None
    ] * 100
