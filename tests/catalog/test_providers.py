"""Providers: registration by the municipality's operator, ИНН checksum, duplicates, own edits only."""

from __future__ import annotations

from pdo_graph.domain.identifiers import inn_with_checksum
from tests.catalog.steps import PROVIDER_UPDATE, REGISTER, mutate, new_inn, operator, register_provider


async def test_register_by_operator_of_the_municipality(gql, token):
    inn = inn_with_checksum("470100001")
    result = await mutate(
        gql,
        REGISTER,
        "providerRegister",
        {
            "name": '  МБУ ДО  "Дом детского творчества" ',
            "inn": f" {inn} ",
            "municipality": "01",
            "address": "ул. Мира, д. 3",
        },
        operator(token, "01"),
    )
    assert result["userErrors"] == []
    provider = result["provider"]
    assert provider["name"] == 'МБУ ДО "Дом детского творчества"'
    assert provider["inn"] == inn
    assert provider["municipality"] == "01"

    node = await gql("query($id: ID!) { node(id: $id) { ... on Provider { inn } } }", {"id": provider["id"]})
    assert node["data"]["node"] == {"inn": inn}

    duplicate = await mutate(
        gql,
        REGISTER,
        "providerRegister",
        {"name": "Другое название", "inn": inn, "municipality": "01"},
        operator(token, "01"),
    )
    assert duplicate["provider"] is None
    assert duplicate["userErrors"][0]["code"] == "DUPLICATE"
    assert duplicate["userErrors"][0]["field"] == ["input", "inn"]
    assert "уже зарегистрирована" in duplicate["userErrors"][0]["message"]


async def test_register_validation_and_roles(gql, token):
    bad_inn = "7707083894"  # the check digit of 770708389 is 3
    invalid = await mutate(
        gql, REGISTER, "providerRegister", {"name": "ДЮ", "inn": bad_inn, "municipality": "01"}, operator(token, "01")
    )
    assert {(e["code"], tuple(e["field"])) for e in invalid["userErrors"]} == {
        ("INVALID", ("input", "name")),
        ("INVALID", ("input", "inn")),
    }
    english = await mutate(
        gql,
        REGISTER,
        "providerRegister",
        {"name": "Школа", "inn": "12345", "municipality": "01"},
        operator(token, "01"),
        lang="en",
    )
    assert english["userErrors"][0]["message"].startswith("Invalid INN")
    twelve = inn_with_checksum("470100002")
    assert (
        await mutate(
            gql,
            REGISTER,
            "providerRegister",
            {"name": "ИП Котова", "inn": twelve + "00", "municipality": "01"},
            operator(token, "01"),
        )
    )["userErrors"][0]["field"] == ["input", "inn"]

    other_operator = await mutate(
        gql,
        REGISTER,
        "providerRegister",
        {"name": "Школа искусств", "inn": new_inn(), "municipality": "01"},
        operator(token, "02"),
    )
    assert other_operator["userErrors"][0]["code"] == "FORBIDDEN"
    for role in ("GUARDIAN", "PROVIDER", "ANALYST"):
        tok = token(role, "someone", provider="1" if role == "PROVIDER" else None)
        refused = await mutate(
            gql, REGISTER, "providerRegister", {"name": "Школа искусств", "inn": new_inn(), "municipality": "01"}, tok
        )
        assert refused["userErrors"][0]["code"] == "FORBIDDEN", role
    anonymous = await gql(REGISTER, {"input": {"name": "Школа искусств", "inn": new_inn(), "municipality": "01"}})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_provider_staff_edit_their_own_organisation_only(gql, token):
    mine = await register_provider(gql, token, name="Станция юных техников")
    theirs = await register_provider(gql, token, name="Станция юных натуралистов")

    renamed = await mutate(
        gql,
        PROVIDER_UPDATE,
        "providerUpdate",
        {"providerId": mine["id"], "name": "Станция юных техников им. Королёва"},
        mine["token"],
    )
    assert renamed["userErrors"] == []
    assert renamed["provider"]["name"] == "Станция юных техников им. Королёва"
    assert renamed["provider"]["address"] == "ул. Ленина, д. 1"  # absent: unchanged
    cleared = await mutate(
        gql, PROVIDER_UPDATE, "providerUpdate", {"providerId": mine["id"], "address": None}, mine["token"]
    )
    assert cleared["provider"]["address"] is None

    foreign = await mutate(
        gql, PROVIDER_UPDATE, "providerUpdate", {"providerId": theirs["id"], "name": "Захват"}, mine["token"]
    )
    assert foreign["provider"] is None
    assert foreign["userErrors"][0]["code"] == "FORBIDDEN"
    assert foreign["userErrors"][0]["field"] == ["input", "providerId"]

    # a token naming the provider by its global id works the same
    by_id = token("PROVIDER", "robot", provider=theirs["id"])
    ok = await mutate(
        gql,
        PROVIDER_UPDATE,
        "providerUpdate",
        {"providerId": theirs["id"], "name": "Эколого-биологический центр"},
        by_id,
    )
    assert ok["userErrors"] == []

    # the municipality's operator may correct it; another municipality's may not
    assert (
        await mutate(
            gql, PROVIDER_UPDATE, "providerUpdate", {"providerId": mine["id"], "name": "СЮТ"}, operator(token, "02")
        )
    )["userErrors"][0]["code"] == "FORBIDDEN"
    assert (
        await mutate(
            gql, PROVIDER_UPDATE, "providerUpdate", {"providerId": mine["id"], "name": "Станция"}, operator(token, "01")
        )
    )["userErrors"] == []
    too_short = await mutate(
        gql, PROVIDER_UPDATE, "providerUpdate", {"providerId": mine["id"], "name": "С"}, mine["token"]
    )
    assert too_short["userErrors"][0]["field"] == ["input", "name"]
    missing = await mutate(
        gql, PROVIDER_UPDATE, "providerUpdate", {"providerId": "bm9wZQ", "name": "Станция"}, mine["token"]
    )
    assert missing["userErrors"][0]["code"] == "NOT_FOUND"

    viewer = await gql("{ viewer { provider { id name } } }", token=mine["token"])
    assert viewer["data"]["viewer"]["provider"] == {"id": mine["id"], "name": "Станция"}
