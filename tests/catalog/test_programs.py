"""Programs and groups: validation with field paths, provider isolation, certification, archiving."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text

from pdo_graph.domain import catalog
from pdo_graph.domain.money import MAX_PRICE_KOPECKS
from pdo_graph.ids import decode_pk
from tests.catalog.steps import (
    GROUP_ARCHIVE,
    GROUP_CLOSE,
    GROUP_CREATE,
    GROUP_UPDATE,
    PROGRAM_ARCHIVE,
    PROGRAM_CERTIFY,
    PROGRAM_CREATE,
    PROGRAM_UPDATE,
    create_group,
    create_program,
    group_input,
    mutate,
    operator,
    program_input,
    register_provider,
    search,
    seats_taken,
    titles,
)


def fields(result: dict) -> set[tuple[str, ...]]:
    return {tuple(e["field"]) for e in result["userErrors"]}


async def test_program_create_with_optional_fields(gql, token):
    provider = await register_provider(gql, token)
    result = await mutate(
        gql,
        PROGRAM_CREATE,
        "programCreate",
        program_input(
            title="  Робототехника   для начинающих ",
            hours=72,
            form="очно-заочная",
            address="ул. Мира, д. 5",
            latitude=56.9,
            longitude=40.05,
            normativeCost=1_500_000,
            externalId="R-1",
        ),
        provider["token"],
    )
    assert result["userErrors"] == []
    program = result["program"]
    assert program["title"] == "Робототехника для начинающих"
    assert (program["hours"], program["form"], program["latitude"], program["externalId"]) == (
        72,
        "очно-заочная",
        56.9,
        "R-1",
    )
    assert program["normativeCost"] == {"kopecks": 1_500_000}
    assert program["certified"] is False and program["archived"] is False
    assert program["provider"]["id"] == provider["id"]

    again = await mutate(gql, PROGRAM_CREATE, "programCreate", program_input(externalId="R-1"), provider["token"])
    assert again["userErrors"][0]["code"] == "DUPLICATE"
    assert again["userErrors"][0]["field"] == ["input", "externalId"]


async def test_program_validation(gql, token):
    provider = await register_provider(gql, token)
    bad = await mutate(
        gql,
        PROGRAM_CREATE,
        "programCreate",
        program_input(
            title="Ро",
            description="Коротко",
            min_age=-1,
            max_age=19,
            hours=0,
            form="вечерняя",
            latitude=91.0,
            normativeCost=-5,
        ),
        provider["token"],
    )
    assert bad["program"] is None
    assert {e["code"] for e in bad["userErrors"]} == {"INVALID"}
    assert fields(bad) == {
        ("input", "title"),
        ("input", "description"),
        ("input", "minAge"),
        ("input", "maxAge"),
        ("input", "hours"),
        ("input", "form"),
        ("input", "latitude"),
        ("input", "normativeCost"),
    }
    order = await mutate(gql, PROGRAM_CREATE, "programCreate", program_input(min_age=12, max_age=10), provider["token"])
    assert fields(order) == {("input", "maxAge")}
    assert "больше максимального" in order["userErrors"][0]["message"]
    long_text = await mutate(
        gql,
        PROGRAM_CREATE,
        "programCreate",
        program_input(title="Т" * 201, description="о" * 5001),
        provider["token"],
        lang="en",
    )
    assert fields(long_text) == {("input", "title"), ("input", "description")}
    assert long_text["userErrors"][0]["message"] == "Text length must be between 3 and 200 characters"
    municipality = await mutate(
        gql, PROGRAM_CREATE, "programCreate", program_input(municipality="99"), provider["token"]
    )
    assert fields(municipality) == {("input", "municipality")}
    lonely = await mutate(gql, PROGRAM_CREATE, "programCreate", program_input(longitude=40.0), provider["token"])
    assert fields(lonely) == {("input", "latitude")}
    edge = await mutate(
        gql,
        PROGRAM_CREATE,
        "programCreate",
        program_input(title="Йог", description="0123456789", min_age=0, max_age=18),
        provider["token"],
    )
    assert edge["userErrors"] == []

    body = await gql("{ programs(first: 10) { totalCount } }")
    assert body["data"]["programs"]["totalCount"] == 1


async def test_roles_for_program_mutations(gql, token):
    await register_provider(gql, token)
    for tok in (operator(token), token("GUARDIAN", "alice"), token("PROVIDER", "x", provider="7700000000")):
        refused = await mutate(gql, PROGRAM_CREATE, "programCreate", program_input(), tok)
        assert refused["userErrors"][0]["code"] == "FORBIDDEN"
    anonymous = await gql(PROGRAM_CREATE, {"input": program_input()})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_provider_cannot_touch_another_providers_programs_or_groups(gql, token):
    mine = await register_provider(gql, token, name="Станция юных техников")
    theirs = await register_provider(gql, token, name="Детская школа искусств № 1")
    program = await create_program(
        gql,
        theirs,
        title="Живопись",
        direction="ARTS",
        description="Акварель, гуашь и масло для начинающих художников.",
    )
    group = await create_group(gql, theirs, program["id"])

    attempts = [
        (PROGRAM_UPDATE, "programUpdate", {"programId": program["id"], "title": "Захваченная программа"}, "programId"),
        (PROGRAM_ARCHIVE, "programArchive", {"programId": program["id"]}, "programId"),
        (GROUP_CREATE, "groupCreate", group_input(program["id"]), "programId"),
        (GROUP_UPDATE, "groupUpdate", {"groupId": group["id"], "capacity": 1}, "groupId"),
        (GROUP_CLOSE, "groupClose", {"groupId": group["id"]}, "groupId"),
        (GROUP_ARCHIVE, "groupArchive", {"groupId": group["id"]}, "groupId"),
    ]
    for document, name, input, field in attempts:
        result = await mutate(gql, document, name, input, mine["token"])
        payload = result.get("program", result.get("group"))
        assert payload is None, name
        assert result["userErrors"][0]["code"] == "FORBIDDEN", name
        assert result["userErrors"][0]["field"] == ["input", field], name
        assert "своей организации" in result["userErrors"][0]["message"]
        # ids of another type, or that do not exist, are NOT_FOUND
        wrong = {**input, field: mine["id"]}
        assert (await mutate(gql, document, name, wrong, mine["token"]))["userErrors"][0]["code"] == "NOT_FOUND"

    node = await gql(
        "query($p: ID!, $g: ID!) { p: node(id: $p) { ... on Program { title archived } }"
        " g: node(id: $g) { ... on Group { capacity enrollmentOpen archived } } }",
        {"p": program["id"], "g": group["id"]},
    )
    assert node["data"] == {
        "p": {"title": "Живопись", "archived": False},
        "g": {"capacity": 12, "enrollmentOpen": True, "archived": False},
    }
    # a provider is no operator
    certify = await mutate(
        gql, PROGRAM_CERTIFY, "programCertify", {"programId": program["id"], "certified": True}, theirs["token"]
    )
    assert certify["userErrors"][0]["code"] == "FORBIDDEN"


async def test_program_update_archive_and_certify(gql, token):
    provider = await register_provider(gql, token)
    program = await create_program(
        gql,
        provider,
        title="Шахматы",
        direction="PHYSICAL_SPORTS",
        description="Шахматная азбука для первоклассников.",
        hours=36,
        address="ул. Садовая, д. 2",
    )
    updated = await mutate(
        gql,
        PROGRAM_UPDATE,
        "programUpdate",
        {"programId": program["id"], "maxAge": 10, "hours": None, "direction": "SOCIAL_HUMANITARIAN"},
        provider["token"],
    )
    assert updated["userErrors"] == []
    p = updated["program"]
    assert (p["maxAge"], p["hours"], p["direction"], p["address"], p["title"]) == (
        10,
        None,
        "SOCIAL_HUMANITARIAN",
        "ул. Садовая, д. 2",
        "Шахматы",
    )
    # validated as a whole: min_age 7 against the new max 5
    bad = await mutate(
        gql, PROGRAM_UPDATE, "programUpdate", {"programId": program["id"], "maxAge": 5}, provider["token"]
    )
    assert fields(bad) == {("input", "maxAge")}

    # certification: the operator of the program's municipality only
    other = await mutate(
        gql, PROGRAM_CERTIFY, "programCertify", {"programId": program["id"], "certified": True}, operator(token, "02")
    )
    assert other["userErrors"][0]["code"] == "FORBIDDEN"
    certified = await mutate(
        gql, PROGRAM_CERTIFY, "programCertify", {"programId": program["id"], "certified": True}, operator(token, "01")
    )
    assert certified["program"]["certified"] is True
    assert titles(await search(gql, filter={"certifiedOnly": True})) == ["Шахматы"]

    archived = await mutate(gql, PROGRAM_ARCHIVE, "programArchive", {"programId": program["id"]}, provider["token"])
    assert archived["program"]["archived"] is True
    assert (await search(gql, search="шахматы"))["totalCount"] == 0
    node = await gql("query($id: ID!) { node(id: $id) { ... on Program { title archived } } }", {"id": program["id"]})
    assert node["data"]["node"] == {"title": "Шахматы", "archived": True}
    # the provider still sees it among its own programs; others do not
    q = "query($id: ID!) { node(id: $id) { ... on Provider { programs(first: 5) { totalCount edges { node { title } } } } } }"
    own = await gql(q, {"id": provider["id"]}, token=provider["token"])
    assert own["data"]["node"]["programs"]["totalCount"] == 1
    public = await gql(q, {"id": provider["id"]})
    assert public["data"]["node"]["programs"] == {"totalCount": 0, "edges": []}

    restored = await mutate(
        gql, PROGRAM_ARCHIVE, "programArchive", {"programId": program["id"], "archived": False}, provider["token"]
    )
    assert restored["program"]["archived"] is False
    assert titles(await search(gql, search="шахматы")) == ["Шахматы"]


async def test_group_validation_and_lifecycle(gql, token):
    provider = await register_provider(gql, token)
    program = await create_program(gql, provider)
    today = date.today()
    bad = await mutate(
        gql,
        GROUP_CREATE,
        "groupCreate",
        {
            "programId": program["id"],
            "name": " ",
            "startsOn": today.isoformat(),
            "endsOn": (today - timedelta(days=1)).isoformat(),
            "capacity": 0,
            "price": -1,
        },
        provider["token"],
    )
    assert {e["code"] for e in bad["userErrors"]} == {"INVALID"}
    assert fields(bad) == {("input", "name"), ("input", "endsOn"), ("input", "capacity"), ("input", "price")}
    too_dear = await mutate(
        gql, GROUP_CREATE, "groupCreate", group_input(program["id"], price=MAX_PRICE_KOPECKS + 1), provider["token"]
    )
    assert fields(too_dear) == {("input", "price")}
    one_day = await mutate(
        gql,
        GROUP_CREATE,
        "groupCreate",
        {
            "programId": program["id"],
            "name": "Мастер-класс",
            "startsOn": today.isoformat(),
            "endsOn": today.isoformat(),
            "capacity": 1,
            "price": 0,
        },
        provider["token"],
    )
    assert one_day["userErrors"] == []

    group = await create_group(gql, provider, program["id"], price=MAX_PRICE_KOPECKS, schedule="пн, ср 16:00")
    assert group["price"] == {"kopecks": MAX_PRICE_KOPECKS, "amount": "1000000.00"}
    assert (group["seatsLeft"], group["enrollmentOpen"], group["schedule"]) == (12, True, "пн, ср 16:00")

    updated = await mutate(
        gql,
        GROUP_UPDATE,
        "groupUpdate",
        {"groupId": group["id"], "capacity": 20, "schedule": None, "price": 900_000},
        provider["token"],
    )
    assert updated["userErrors"] == []
    assert (updated["group"]["capacity"], updated["group"]["schedule"]) == (20, None)
    bad_dates = await mutate(
        gql, GROUP_UPDATE, "groupUpdate", {"groupId": group["id"], "endsOn": "2000-01-01"}, provider["token"]
    )
    assert fields(bad_dates) == {("input", "endsOn")}

    closed = await mutate(gql, GROUP_CLOSE, "groupClose", {"groupId": group["id"]}, provider["token"])
    assert closed["group"]["enrollmentOpen"] is False
    reopened = await mutate(
        gql, GROUP_UPDATE, "groupUpdate", {"groupId": group["id"], "enrollmentOpen": True}, provider["token"]
    )
    assert reopened["group"]["enrollmentOpen"] is True
    archived = await mutate(gql, GROUP_ARCHIVE, "groupArchive", {"groupId": group["id"]}, provider["token"])
    assert archived["group"]["archived"] is True and archived["group"]["enrollmentOpen"] is False
    listed = await gql(
        "query($id: ID!) { node(id: $id) { ... on Program { groups(first: 10) { totalCount } } } }",
        {"id": program["id"]},
    )
    assert listed["data"]["node"]["groups"]["totalCount"] == 1  # the archived group is no longer listed


async def test_capacity_cannot_go_below_seats_taken(gql, token, db):
    provider = await register_provider(gql, token)
    program = await create_program(gql, provider)
    group = await create_group(gql, provider, program["id"], capacity=10)
    async with seats_taken(db, group["id"], 4):
        below = await mutate(
            gql, GROUP_UPDATE, "groupUpdate", {"groupId": group["id"], "capacity": 3}, provider["token"]
        )
        assert below["group"] is None
        assert below["userErrors"] == [
            {
                "code": "INVALID",
                "field": ["input", "capacity"],
                "message": "Нельзя сделать мест меньше, чем уже занято (4)",
            }
        ]
        exact = await mutate(
            gql, GROUP_UPDATE, "groupUpdate", {"groupId": group["id"], "capacity": 4}, provider["token"]
        )
        assert (exact["group"]["capacity"], exact["group"]["seatsLeft"]) == (4, 0)

        # push and sync keep the same rule: the item is refused, nothing of it written
        async with db.connect() as conn:
            async with conn.begin() as tx:
                await conn.execute(
                    text("UPDATE programs SET external_id = 'p1' WHERE id = :id"),
                    {"id": decode_pk(program["id"], "Program")},
                )
                await conn.execute(
                    text("UPDATE groups SET external_id = 'g1' WHERE id = :id"), {"id": decode_pk(group["id"], "Group")}
                )
                provider_pk = decode_pk(provider["id"], "Provider")
                data = catalog.GroupData(
                    name="Группа 1", starts_on=date.today(), ends_on=date.today(), capacity=2, price=0, external_id="g1"
                )
                item = catalog.ProgramItem(
                    catalog.ProgramData(
                        "Робототехника", "Собираем роботов.", "TECHNICAL", 7, 12, "01", external_id="p1"
                    ),
                    (data,),
                )
                [refused], _ = await catalog.write_items(conn, provider_pk, [catalog.check_item(item)])
                assert refused.outcome is catalog.Outcome.REJECTED
                assert [(p.field, p.params) for p in refused.problems] == [(["groups", "0", "capacity"], {"taken": 4})]
                await tx.rollback()


async def test_control_characters_are_refused(gql, token):
    provider = await register_provider(gql, token)
    result = await mutate(
        gql,
        PROGRAM_CREATE,
        "programCreate",
        program_input(title="Робото\x00техника", municipality="0\x001"),
        provider["token"],
    )
    assert {tuple(e["field"]) for e in result["userErrors"]} == {("input", "title"), ("input", "municipality")}
    ok = await mutate(
        gql,
        PROGRAM_CREATE,
        "programCreate",
        program_input(description="Первая строка.\nВторая строка\tс табуляцией."),
        provider["token"],
    )
    assert ok["userErrors"] == []
    assert ok["program"]["description"] == "Первая строка.\nВторая строка\tс табуляцией."


async def test_moving_a_program_to_another_municipality_withdraws_its_certification(gql, token):
    provider = await register_provider(gql, token)
    program = await create_program(gql, provider, certify_with=token)
    assert program["certified"] is True
    same = await mutate(
        gql, PROGRAM_UPDATE, "programUpdate", {"programId": program["id"], "hours": 10}, provider["token"]
    )
    assert same["program"]["certified"] is True
    moved = await mutate(
        gql, PROGRAM_UPDATE, "programUpdate", {"programId": program["id"], "municipality": "02"}, provider["token"]
    )
    assert (moved["program"]["municipality"], moved["program"]["certified"]) == ("02", False)


async def test_group_dates_are_bounded(gql, token):
    """Years 2000–2100, and a group runs at most 36 months (a typo no longer makes an 8 000-year group)."""
    provider = await register_provider(gql, token)
    program = await create_program(gql, provider)

    async def create(starts: str, ends: str, lang: str | None = None) -> dict:
        fields = {**group_input(program["id"]), "startsOn": starts, "endsOn": ends}
        return await mutate(gql, GROUP_CREATE, "groupCreate", fields, provider["token"], lang=lang)

    early = await create("1999-12-31", "2000-06-30")
    assert early["group"] is None
    assert early["userErrors"] == [
        {"code": "INVALID", "field": ["input", "startsOn"], "message": "Дата должна приходиться на годы с 2000 по 2100"}
    ]
    far = await create("2026-09-01", "9999-12-31")
    assert [e["field"] for e in far["userErrors"]] == [["input", "endsOn"]]
    too_long = await create("2026-09-15", "2029-09-15", lang="en")
    assert too_long["userErrors"] == [
        {"code": "INVALID", "field": ["input", "endsOn"], "message": "A group may run for at most 36 months"}
    ]
    longest = await create("2026-09-15", "2029-09-14")
    assert longest["userErrors"] == [] and longest["group"]["endsOn"] == "2029-09-14"
    stretched = await mutate(
        gql, GROUP_UPDATE, "groupUpdate", {"groupId": longest["group"]["id"], "endsOn": "2100-01-01"}, provider["token"]
    )
    assert [(e["code"], e["field"]) for e in stretched["userErrors"]] == [("INVALID", ["input", "endsOn"])]
