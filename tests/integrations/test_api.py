"""The GraphQL face of the integrations: sources (operators), runs (operators and the provider), push."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from pdo_graph.app import create_app
from pdo_graph.db.engine import Database
from pdo_graph.ids import decode_pk, encode_id
from pdo_graph.integrations.secrets import SecretBox
from tests.integrations.conftest import OTHER_INN, pdo_group, pdo_program
from tests.oidc_fixture import FEED_RESOURCE, PROVIDER_X, oidc_mode

ERRORS = "userErrors { code field message }"
SOURCE_FIELDS = (
    "id feedUrl format issuer clientId clientAuth hasSecret audience scope intervalMinutes paused position"
    " defaultDirection activityDirections { activity direction } provider { id inn }"
    " lastRun { id status pages created updated archived failed }"
)
CREATE = f"""
mutation($input: CatalogSourceInput!) {{
  catalogSourceCreate(input: $input) {{ source {{ {SOURCE_FIELDS} }} {ERRORS} }}
}}"""
UPDATE = f"""
mutation($input: CatalogSourceUpdateInput!) {{
  catalogSourceUpdate(input: $input) {{ source {{ {SOURCE_FIELDS} }} {ERRORS} }}
}}"""
PAUSE = f"""
mutation($input: CatalogSourcePauseInput!) {{
  catalogSourcePause(input: $input) {{ source {{ id paused }} {ERRORS} }}
}}"""
DELETE = f"""
mutation($input: CatalogSourceDeleteInput!) {{
  catalogSourceDelete(input: $input) {{ deletedSourceId {ERRORS} }}
}}"""
RUN_FIELDS = (
    "id status startedAt finishedAt trigger fullHarvest pages created updated archived failed unchanged skipped"
    " message failures { externalId kind reason } events { code message }"
)
SYNC = f"""
mutation($input: CatalogSourceSyncInput!) {{
  catalogSourceSync(input: $input) {{ run {{ {RUN_FIELDS} source {{ id }} }} {ERRORS} }}
}}"""
NODE = """
query($id: ID!) {
  node(id: $id) {
    ... on CatalogSource { id feedUrl runs(first: 2) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { id status created } } } }
    ... on CatalogSyncRun { id status created }
  }
}"""
SOURCES = """
query($providerId: ID) {
  catalogSources(first: 10, providerId: $providerId) { totalCount edges { node { id feedUrl lastRun { status } } } }
}"""
UPSERT = f"""
mutation($input: CatalogUpsertInput!) {{
  catalogUpsert(input: $input) {{
    results {{ externalId status program {{ id title archived }} {ERRORS} }}
    {ERRORS}
  }}
}}"""


def operator(token: Any, municipality: str = "01") -> str:
    return str(token("OPERATOR", f"op-{municipality}", municipality=municipality))


def provider(token: Any, inn: str = PROVIDER_X) -> str:
    return str(token("PROVIDER", f"staff-{inn}", provider=inn))


def source_input(oidc_provider: Any, feed: Any, provider_id: int, **overrides: Any) -> dict[str, Any]:
    client = oidc_provider.clients["provider-x"]
    data = {
        "providerId": encode_id("Provider", provider_id),
        "feedUrl": feed.url,
        "format": "PDO_CATALOG_V1",
        "issuer": oidc_provider.issuer,
        "clientId": client.client_id,
        "clientAuth": "CLIENT_SECRET_BASIC",
        "clientSecret": client.secret,
        "audience": FEED_RESOURCE,
        "intervalMinutes": 30,
    }
    data.update(overrides)
    return data


async def create(api, token, oidc_provider, feed, provider_id, **overrides) -> dict[str, Any]:
    body = await api(
        CREATE, {"input": source_input(oidc_provider, feed, provider_id, **overrides)}, token=operator(token)
    )
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["catalogSourceCreate"]
    return payload


async def test_operator_registers_a_source_and_secrets_stay_write_only(
    api, gql, db, token, oidc_provider, feed, provider_x, settings
):
    payload = await create(api, token, oidc_provider, feed, provider_x)
    assert payload["userErrors"] == []
    source = payload["source"]
    assert source["hasSecret"] is True and source["clientAuth"] == "CLIENT_SECRET_BASIC"
    assert source["provider"]["inn"] == PROVIDER_X and source["lastRun"] is None and source["position"] is None
    secret = oidc_provider.clients["provider-x"].secret
    async with db.connect() as conn:
        stored = (await conn.execute(text("SELECT secret_encrypted FROM catalog_sources"))).scalar_one()
    assert stored.startswith("v1.") and secret not in stored
    fields = await api('{ __type(name: "CatalogSource") { fields { name } } }')
    assert [f["name"] for f in fields["data"]["__type"]["fields"] if "ecret" in f["name"]] == ["hasSecret"]

    duplicate = await create(api, token, oidc_provider, feed, provider_x)
    assert [(e["code"], e["field"]) for e in duplicate["userErrors"]] == [("DUPLICATE", ["input", "feedUrl"])]
    # a dev server without PDO_SECRET_KEY seals secrets with the key it generated into its data
    # directory (0600, like the dev signing key); outside dev mode the settings refuse to start without it
    assert settings.secret_key is None and settings.auth_mode == "dev"
    body = await gql(
        CREATE,
        {"input": source_input(oidc_provider, feed, provider_x, feedUrl=feed.url + "?x=1")},
        token=operator(token),
        lang="en",
    )
    created = body["data"]["catalogSourceCreate"]
    assert created["userErrors"] == [] and created["source"]["hasSecret"] is True
    key_file = settings.data_dir / "secret-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    async with db.connect() as conn:
        sealed = (
            await conn.execute(
                text("SELECT secret_encrypted FROM catalog_sources WHERE feed_url = :u"), {"u": feed.url + "?x=1"}
            )
        ).scalar_one()
    assert secret not in sealed and SecretBox(key_file.read_text()).open(sealed).value == secret


async def test_only_the_operator_of_the_providers_municipality_manages_sources(
    api, token, oidc_provider, feed, provider_x
):
    for who in (operator(token, "02"), provider(token), token("GUARDIAN", "alice")):
        body = await api(CREATE, {"input": source_input(oidc_provider, feed, provider_x)}, token=who)
        assert [e["code"] for e in body["data"]["catalogSourceCreate"]["userErrors"]] == ["FORBIDDEN"], body
    anonymous = await api(CREATE, {"input": source_input(oidc_provider, feed, provider_x)})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_source_input_validation(api, token, oidc_provider, feed, provider_x):
    payload = await create(
        api,
        token,
        oidc_provider,
        feed,
        provider_x,
        feedUrl="http://feeds.example.org/feed",
        issuer="https://user:pw@idp.example.org",
        intervalMinutes=0,
        clientAuth="PRIVATE_KEY_JWT",
        clientSecret=None,
        privateKeyPem="-----BEGIN PRIVATE KEY-----\nxx\n",
    )
    assert sorted((e["field"][-1], e["code"]) for e in payload["userErrors"]) == [
        ("feedUrl", "INVALID"),
        ("intervalMinutes", "INVALID"),
        ("issuer", "INVALID"),
        ("privateKeyPem", "INVALID"),
    ]
    en = await api(
        CREATE,
        {"input": source_input(oidc_provider, feed, provider_x, feedUrl="http://x.org/f")},
        token=operator(token),
        lang="en",
    )
    assert en["data"]["catalogSourceCreate"]["userErrors"][0]["message"].startswith("The URL must use https")
    ru = await api(
        CREATE,
        {"input": source_input(oidc_provider, feed, provider_x, feedUrl="http://x.org/f")},
        token=operator(token),
    )
    assert ru["data"]["catalogSourceCreate"]["userErrors"][0]["message"].startswith("Адрес должен")


async def test_update_pause_and_delete(api, db, token, oidc_provider, feed, provider_x):
    source = (await create(api, token, oidc_provider, feed, provider_x))["source"]
    jwt_client = oidc_provider.clients["provider-x-jwt"]
    changed = await api(
        UPDATE,
        {
            "input": {
                "sourceId": source["id"],
                "clientAuth": "PRIVATE_KEY_JWT",
                "clientId": "provider-x-jwt",
                "privateKeyPem": jwt_client.key.as_pem(private=True).decode(),
                "keyId": jwt_client.key.kid,
                "format": "OPENACTIVE_RPDE",
                "defaultDirection": "ARTS",
                "activityDirections": [{"activity": "Swimming", "direction": "PHYSICAL_SPORTS"}],
            }
        },
        token=operator(token),
    )
    updated = changed["data"]["catalogSourceUpdate"]
    assert updated["userErrors"] == [], updated
    assert updated["source"]["clientAuth"] == "PRIVATE_KEY_JWT" and updated["source"]["format"] == "OPENACTIVE_RPDE"
    assert updated["source"]["activityDirections"] == [{"activity": "Swimming", "direction": "PHYSICAL_SPORTS"}]
    # switching the method back without its secret is refused
    refused = await api(
        UPDATE, {"input": {"sourceId": source["id"], "clientAuth": "CLIENT_SECRET_BASIC"}}, token=operator(token)
    )
    assert refused["data"]["catalogSourceUpdate"]["userErrors"][0]["field"] == ["input", "clientSecret"]
    paused = await api(PAUSE, {"input": {"sourceId": source["id"]}}, token=operator(token))
    assert paused["data"]["catalogSourcePause"]["source"]["paused"] is True
    foreign = await api(DELETE, {"input": {"sourceId": source["id"]}}, token=operator(token, "02"))
    assert foreign["data"]["catalogSourceDelete"]["userErrors"][0]["code"] == "FORBIDDEN"
    gone = await api(DELETE, {"input": {"sourceId": source["id"]}}, token=operator(token))
    assert gone["data"]["catalogSourceDelete"] == {"deletedSourceId": source["id"], "userErrors": []}
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM catalog_sources"))).scalar() == 0


async def test_sync_now_and_who_sees_the_runs(api, db, token, oidc_provider, feed, provider_x, provider_y):
    feed.put(
        pdo_program("P-1", 100),
        pdo_program("P-2", 101, groups=[pdo_group("G-1", capacity=5000)]),
        pdo_program("P-3", 102),
    )
    source = (await create(api, token, oidc_provider, feed, provider_x))["source"]
    for who in (provider(token), operator(token, "02")):
        body = await api(SYNC, {"input": {"sourceId": source["id"]}}, token=who)
        assert body["data"]["catalogSourceSync"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert feed.log == []  # nobody but the operator made it run

    body = await api(SYNC, {"input": {"sourceId": source["id"]}}, token=operator(token))
    run = body["data"]["catalogSourceSync"]["run"]
    assert run["status"] == "PARTIAL" and run["finishedAt"] is not None and run["fullHarvest"] is True
    assert (run["pages"], run["created"], run["failed"]) == (2, 2, 1)
    assert run["failures"][0]["externalId"] == "P-2"
    assert run["failures"][0]["reason"].startswith("groups.G-1.capacity: Число мест должно быть от 1 до 1000")
    assert run["message"] == "Лента прочитана до конца; отклонено записей: 1"
    assert run["events"] == [{"code": "FULL_HARVEST", "message": "Полное чтение ленты с начала"}]

    second = await api(SYNC, {"input": {"sourceId": source["id"]}}, token=operator(token), lang="en")
    run2 = second["data"]["catalogSourceSync"]["run"]
    assert run2["status"] == "SUCCEEDED" and run2["pages"] == 1 and run2["message"] is None

    # the provider and its operator see the source and its runs; others do not
    for who in (provider(token), operator(token)):
        seen = await api(NODE, {"id": source["id"]}, token=who)
        runs = seen["data"]["node"]["runs"]
        assert runs["totalCount"] == 2 and runs["edges"][0]["node"]["id"] == run2["id"]
        run_node = await api(NODE, {"id": run["id"]}, token=who)
        assert run_node["data"]["node"]["created"] == 2
        listed = await api(SOURCES, token=who)
        assert listed["data"]["catalogSources"]["totalCount"] == 1
        assert listed["data"]["catalogSources"]["edges"][0]["node"]["lastRun"]["status"] == "SUCCEEDED"
    for who in (provider(token, OTHER_INN), operator(token, "02"), token("GUARDIAN", "alice"), None):
        assert (await api(NODE, {"id": source["id"]}, token=who))["data"]["node"] is None
        assert (await api(NODE, {"id": run["id"]}, token=who))["data"]["node"] is None
        assert (await api(SOURCES, token=who))["data"]["catalogSources"]["totalCount"] == 0
    paged = (
        "query($id: ID!, $after: String) { node(id: $id) { ... on CatalogSource { runs(first: 1, after: $after) {"
        " edges { node { id } } pageInfo { hasNextPage endCursor } } } } }"
    )
    page1 = (await api(paged, {"id": source["id"]}, token=operator(token)))["data"]["node"]["runs"]
    assert page1["edges"][0]["node"]["id"] == run2["id"] and page1["pageInfo"]["hasNextPage"] is True
    page2 = await api(paged, {"id": source["id"], "after": page1["pageInfo"]["endCursor"]}, token=operator(token))
    assert page2["data"]["node"]["runs"]["edges"][0]["node"]["id"] == run["id"]
    assert page2["data"]["node"]["runs"]["pageInfo"]["hasNextPage"] is False
    english = await api(
        NODE.replace("id status created }", "id status created failures { reason } }"),
        {"id": run["id"]},
        token=operator(token),
        lang="en",
    )
    assert english["data"]["node"]["failures"][0]["reason"].startswith("groups.G-1.capacity: Capacity must be")


def program_row(external_id: str, *, groups: list[dict[str, Any]] | None = None, **overrides: Any) -> dict[str, Any]:
    row = {
        "externalId": external_id,
        "title": f"Программа {external_id}",
        "description": "Занятия для детей в кружке по интересам.",
        "direction": "ARTS",
        "minAge": 6,
        "maxAge": 12,
        "municipality": "01",
        "groups": groups
        if groups is not None
        else [
            {
                "externalId": f"{external_id}-G1",
                "name": "Группа 1",
                "startsOn": "2030-09-01",
                "endsOn": "2031-05-31",
                "capacity": 10,
                "price": 500_000,
            },
        ],
    }
    row.update(overrides)
    return row


async def counts(db) -> tuple[int, int]:
    async with db.connect() as conn:
        programs = (await conn.execute(text("SELECT count(*) FROM programs"))).scalar()
        groups = (await conn.execute(text("SELECT count(*) FROM groups"))).scalar()
    return int(programs), int(groups)


async def test_catalog_upsert_reject_everything(api, db, token, provider_x):
    bad_group = {
        "externalId": "B-G1",
        "name": "Группа",
        "startsOn": "2030-09-01",
        "endsOn": "2030-08-01",
        "capacity": 10,
        "price": 1,
    }
    items = [program_row("A"), program_row("B", groups=[bad_group]), program_row("C")]
    body = await api(UPSERT, {"input": {"items": items}}, token=provider(token))
    payload = body["data"]["catalogUpsert"]
    assert [r["status"] for r in payload["results"]] == ["NOT_SAVED", "REJECTED", "NOT_SAVED"]
    assert [e["field"] for e in payload["results"][1]["userErrors"]] == [
        ["input", "items", "1", "groups", "0", "endsOn"]
    ]
    assert payload["results"][0]["program"] is None and payload["results"][0]["userErrors"][0]["code"] == "INVALID"
    assert payload["userErrors"][0]["message"].startswith("Ничего не сохранено")
    assert await counts(db) == (0, 0)

    items[1] = program_row("B")
    saved = (await api(UPSERT, {"input": {"items": items}}, token=provider(token)))["data"]["catalogUpsert"]
    assert [r["status"] for r in saved["results"]] == ["CREATED", "CREATED", "CREATED"]
    assert saved["userErrors"] == [] and saved["results"][2]["program"]["title"] == "Программа C"
    assert await counts(db) == (3, 3)
    again = (await api(UPSERT, {"input": {"items": items}}, token=provider(token)))["data"]["catalogUpsert"]
    assert [r["status"] for r in again["results"]] == ["UNCHANGED"] * 3


async def test_catalog_upsert_reject_failed_rows(api, db, token, provider_x):
    items = [
        program_row("A"),
        program_row("B", minAge=15, maxAge=10),
        program_row("A"),  # the same external id twice in one call
        program_row("C", archived=True),
    ]
    body = await api(UPSERT, {"input": {"items": items, "errorPolicy": "REJECT_FAILED_ROWS"}}, token=provider(token))
    payload = body["data"]["catalogUpsert"]
    assert [r["status"] for r in payload["results"]] == ["CREATED", "REJECTED", "REJECTED", "CREATED"]
    assert payload["results"][1]["userErrors"][0]["field"] == ["input", "items", "1", "maxAge"]
    assert payload["results"][2]["userErrors"][0]["code"] == "DUPLICATE"
    assert payload["results"][3]["program"]["archived"] is True
    assert payload["userErrors"] == []
    assert await counts(db) == (2, 2)
    # a program's groups are its complete list: a group left out is archived
    two = [
        {
            "externalId": "A-G2",
            "name": "Группа 2",
            "startsOn": "2030-09-01",
            "endsOn": "2031-05-31",
            "capacity": 8,
            "price": 700_000,
        }
    ]
    changed = await api(UPSERT, {"input": {"items": [program_row("A", groups=two)]}}, token=provider(token))
    assert changed["data"]["catalogUpsert"]["results"][0]["status"] == "UPDATED"
    async with db.connect() as conn:
        rows = (await conn.execute(text("SELECT external_id, archived FROM groups ORDER BY external_id"))).all()
    assert [tuple(r) for r in rows] == [("A-G1", True), ("A-G2", False), ("C-G1", False)]


async def test_upsert_writes_only_into_the_callers_own_provider(api, db, token, provider_x, provider_y):
    await api(UPSERT, {"input": {"items": [program_row("P-1")]}}, token=provider(token, PROVIDER_X))
    body = await api(
        UPSERT, {"input": {"items": [program_row("P-1", title="Чужая программа")]}}, token=provider(token, OTHER_INN)
    )
    assert body["data"]["catalogUpsert"]["results"][0]["status"] == "CREATED"
    async with db.connect() as conn:
        rows = (await conn.execute(text("SELECT provider_id, title FROM programs ORDER BY provider_id"))).all()
    assert [tuple(r) for r in rows] == [(provider_x, "Программа P-1"), (provider_y, "Чужая программа")]
    for who in (operator(token), token("GUARDIAN", "alice"), provider(token, "500100732259")):
        refused = await api(UPSERT, {"input": {"items": [program_row("P-2")]}}, token=who)
        assert refused["data"]["catalogUpsert"]["userErrors"][0]["code"] == "FORBIDDEN"
    too_many = await api(
        UPSERT, {"input": {"items": [program_row(f"X-{i}") for i in range(501)]}}, token=provider(token)
    )
    assert too_many["data"]["catalogUpsert"]["userErrors"][0]["field"] == ["input", "items"]
    assert await counts(db) == (2, 2)


@pytest.fixture
async def oidc_api(oidc_provider, engine, sync_settings, database_url, db):
    settings = oidc_mode(sync_settings, oidc_provider.issuer)
    app = create_app(settings, database=Database(url=database_url, engine=engine))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:

            async def call(query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
                response = await client.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"authorization": f"Bearer {token}"},
                )
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body

            yield call


async def test_machine_client_pushes_and_cannot_sync(oidc_api, db, oidc_provider, feed, provider_x, provider_y):
    for client in ("provider-x", "provider-x-jwt"):
        machine = oidc_provider.token(client)  # client credentials, JWT access token for the API
        body = await oidc_api(UPSERT, {"input": {"items": [program_row(f"M-{client}")]}}, machine)
        assert body["data"]["catalogUpsert"]["results"][0]["status"] == "CREATED", body
    async with db.connect() as conn:
        owners = (await conn.execute(text("SELECT DISTINCT provider_id FROM programs"))).scalars().all()
    assert owners == [provider_x]
    operator_token = oidc_provider.token("operator-01")
    created = await oidc_api(CREATE, {"input": source_input(oidc_provider, feed, provider_x)}, operator_token)
    source_id = created["data"]["catalogSourceCreate"]["source"]["id"]
    refused = await oidc_api(SYNC, {"input": {"sourceId": source_id}}, oidc_provider.token("provider-x"))
    assert refused["data"]["catalogSourceSync"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert decode_pk(source_id, "CatalogSource") is not None and feed.log == []


async def test_explicit_nulls_take_the_contract_defaults(api, db, token, provider_x):
    row = program_row("N", archived=None)
    row["groups"][0]["enrollmentOpen"] = None
    body = await api(UPSERT, {"input": {"items": [row], "errorPolicy": None}}, token=provider(token))
    assert body["data"]["catalogUpsert"]["results"][0]["status"] == "CREATED", body
    async with db.connect() as conn:
        program, group = (
            await conn.execute(
                text("SELECT p.archived, g.enrollment_open FROM programs p JOIN groups g ON g.program_id = p.id")
            )
        ).one()
    assert (program, group) == (False, True)


async def test_catalog_upsert_lists_every_problem_of_a_row_under_its_path(api, db, token, provider_x):
    too_long = {
        "externalId": "A-G1",
        "name": "Группа",
        "startsOn": "2030-09-01",
        "endsOn": "2040-09-01",  # more than 36 months
        "capacity": 0,
        "price": 1,
    }
    items = [program_row("A", title="Я", groups=[too_long])]
    body = await api(UPSERT, {"input": {"items": items, "errorPolicy": "REJECT_FAILED_ROWS"}}, token=provider(token))
    [row] = body["data"]["catalogUpsert"]["results"]
    assert row["status"] == "REJECTED"
    assert sorted(e["field"] for e in row["userErrors"]) == [
        ["input", "items", "0", "groups", "0", "capacity"],
        ["input", "items", "0", "groups", "0", "endsOn"],
        ["input", "items", "0", "title"],
    ]
    assert await counts(db) == (0, 0)
