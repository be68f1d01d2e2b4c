"""The navigator: Russian full-text search, filters, orders, keyset pages and facets (anonymous)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text

from pdo_graph.domain.search import tsquery_text
from pdo_graph.ids import decode_pk
from tests.catalog.steps import (
    PROGRAM_ARCHIVE,
    SEARCH,
    create_group,
    create_program,
    facets,
    mutate,
    register_provider,
    search,
    seats_taken,
    titles,
)

ROBOTS = "Собираем и программируем роботов из образовательных конструкторов."


async def test_robotics_for_a_ten_year_old_in_one_municipality(gql, token, db):
    """The navigator's main case: certified programs with free seats, title matches first."""
    station = await register_provider(gql, token, name="Станция юных техников")
    school = await register_provider(gql, token, name="Школа программистов")
    far = await register_provider(gql, token, name="Заречный технопарк", municipality="02")

    async def program(owner, title, description, certified=True, **kw):
        created = await create_program(
            gql, owner, certify_with=token if certified else None, title=title, description=description, **kw
        )
        return created, await create_group(gql, owner, created["id"])

    title_match, _ = await program(station, "Робототехника", ROBOTS)
    in_description, _ = await program(
        school,
        "Программирование на Python",
        "Курс для тех, кто уже знаком с робототехникой и хочет писать код.",
        min_age=9,
        max_age=16,
    )
    await program(station, "Робототехника для старшеклассников", ROBOTS, min_age=14, max_age=17)
    await program(far, "Робототехника", ROBOTS, municipality="02")
    await program(station, "Робототехника на LEGO", ROBOTS, certified=False)
    _, full = await program(station, "Спортивная робототехника", ROBOTS)
    archived, _ = await program(station, "Робототехника (архив)", ROBOTS)
    await mutate(gql, PROGRAM_ARCHIVE, "programArchive", {"programId": archived["id"]}, station["token"])
    await program(
        school, "Шахматы", "Шахматная азбука для первоклассников и их родителей.", direction="PHYSICAL_SPORTS"
    )

    wanted = {"age": 10, "municipality": "01", "certifiedOnly": True, "hasFreeSeats": True}
    async with seats_taken(db, full["id"], 12):
        found = await search(gql, search="робототехника", filter=wanted)
        assert titles(found) == ["Робототехника", "Программирование на Python"]
        assert found["totalCount"] == 2
        assert [e["node"]["id"] for e in found["edges"]] == [title_match["id"], in_description["id"]]
        assert all(e["node"]["certified"] and e["node"]["municipality"] == "01" for e in found["edges"])
        # stemming: another case of the same word, and a prefix while typing
        assert titles(await search(gql, search="робототехнике", filter=wanted)) == titles(found)
        assert titles(await search(gql, search="Робототе", filter=wanted)) == titles(found)
        # without the seat filter the full group's program is back
        assert "Спортивная робототехника" in titles(
            await search(gql, search="робототехника", filter={**wanted, "hasFreeSeats": False})
        )
    everything = titles(await search(gql, search="робототехника"))
    assert len(everything) == 6  # every non-archived robotics program, in every municipality
    assert "Робототехника (архив)" not in everything


async def test_russian_stemming_of_chess(gql, token):
    """What the snowball stemmer does: шахматы -> 'шахмат', шахматный -> 'шахматн', шахматист -> 'шахматист'."""
    provider = await register_provider(gql, token)
    for title in ("Шахматы для начинающих", "Шахматный клуб «Белая ладья»", "Юные шахматисты"):
        await create_program(
            gql, provider, title=title, direction="PHYSICAL_SPORTS", description="Занятия проходят в небольших группах."
        )
    # typing "шахматы": its stem is a prefix of all three words
    assert set(titles(await search(gql, search="шахматы"))) == {
        "Шахматы для начинающих",
        "Шахматный клуб «Белая ладья»",
        "Юные шахматисты",
    }
    # a finished word (trailing space) matches its stem exactly: шахматный and шахматисты are other stems
    assert titles(await search(gql, search="шахматы ")) == ["Шахматы для начинающих"]
    assert titles(await search(gql, search="шахмат клуб")) == []  # 'шахмат' & 'клуб':* — клуб is in one title only
    assert titles(await search(gql, search="шахматный клуб")) == ["Шахматный клуб «Белая ладья»"]
    # the adjective's stem 'шахматн' does not cover the noun 'шахмат'
    assert titles(await search(gql, search="шахматный")) == ["Шахматный клуб «Белая ладья»"]
    assert titles(await search(gql, search="ШАХМАТИСТОВ ")) == ["Юные шахматисты"]


async def test_user_input_is_sanitized(gql, token):
    provider = await register_provider(gql, token)
    await create_program(gql, provider, title="Робототехника", description=ROBOTS)
    await create_program(gql, provider, title="Живопись", direction="ARTS", description="Акварель и гуашь.")
    for attack in ("робот & | ! ( ) :* ' \\", "робот:*A", "!!!робот|", "(робот)<->"):
        found = await search(gql, search=attack)
        assert titles(found) == ["Робототехника"], attack
    for nothing in ("", "   ", "для и в", "& | !", "р"):
        assert (await search(gql, search=nothing))["totalCount"] == 2, nothing
    assert (await search(gql, search="'; DROP TABLE programs; --"))["totalCount"] == 0
    assert (await search(gql, search="робот')) OR 1=1 --"))["totalCount"] == 0  # every word must match
    assert (await search(gql))["totalCount"] == 2
    assert (await search(gql, search="ёлка " * 100))["totalCount"] == 0
    assert tsquery_text("Робототехника для детей, Lego") == "'робототехника' & 'детей' & 'lego':*"
    assert tsquery_text("3D-моделирование ") == "'3d' & 'моделирование'"
    assert tsquery_text("ёж") == "'еж':*"
    assert tsquery_text(None) is None and tsquery_text(" , ") is None


async def test_filters_and_facets(gql, token, db):
    provider = await register_provider(gql, token)
    other = await register_provider(gql, token, municipality="02", name="Дом творчества")
    cheap = await create_program(
        gql, provider, certify_with=token, title="Робототехника", description=ROBOTS, min_age=7, max_age=10
    )
    await create_group(gql, provider, cheap["id"], price=500_000)
    dear = await create_program(gql, provider, title="Робототехника PRO", description=ROBOTS, min_age=11, max_age=15)
    dear_group = await create_group(gql, provider, dear["id"], price=2_000_000)
    arts = await create_program(
        gql,
        provider,
        title="Живопись",
        direction="ARTS",
        description="Акварель, гуашь и масло для начинающих.",
        min_age=5,
        max_age=17,
    )
    closed = await create_group(gql, provider, arts["id"], price=100_000, enrollmentOpen=False)
    await create_group(gql, provider, arts["id"], price=3_000_000)
    sport = await create_program(
        gql,
        other,
        title="Футбол",
        direction="PHYSICAL_SPORTS",
        municipality="02",
        description="Тренировки по футболу для мальчиков и девочек.",
    )
    await create_group(gql, other, sport["id"], price=800_000, starts_in_days=-400, months=6)  # over long ago

    all_ = await search(gql)
    assert all_["totalCount"] == 4
    assert facets(all_) == {
        "TECHNICAL": 2,
        "ARTS": 1,
        "PHYSICAL_SPORTS": 1,
        "NATURAL_SCIENCE": 0,
        "TOURISM_LOCAL_HISTORY": 0,
        "SOCIAL_HUMANITARIAN": 0,
    }
    # the direction filter narrows the page and the total, not the facets
    technical = await search(gql, filter={"direction": "TECHNICAL"})
    assert technical["totalCount"] == 2 and set(titles(technical)) == {"Робототехника", "Робототехника PRO"}
    assert facets(technical) == facets(all_)
    # facets follow the text and the other filters
    assert facets(await search(gql, search="робот", filter={"direction": "ARTS"}))["TECHNICAL"] == 2
    assert (await search(gql, search="робот", filter={"direction": "ARTS"}))["totalCount"] == 0

    assert titles(await search(gql, filter={"age": 10})) == ["Робототехника", "Живопись", "Футбол"]
    assert titles(await search(gql, filter={"age": 11, "direction": "TECHNICAL"})) == ["Робототехника PRO"]
    assert titles(await search(gql, filter={"age": 18})) == []
    assert titles(await search(gql, filter={"municipality": "02"})) == ["Футбол"]
    assert titles(await search(gql, filter={"certifiedOnly": True})) == ["Робототехника"]
    assert titles(await search(gql, filter={"providerId": other["id"]})) == ["Футбол"]
    # maxPrice looks at searchable groups only: a closed cheap group and an ended one do not count
    assert titles(await search(gql, filter={"maxPrice": 600_000})) == ["Робототехника"]
    assert titles(await search(gql, filter={"maxPrice": 2_000_000})) == ["Робототехника", "Робототехника PRO"]
    assert decode_pk(closed["id"], "Group")
    assert titles(await search(gql, filter={"hasFreeSeats": True})) == [
        "Робототехника",
        "Робототехника PRO",
        "Живопись",
    ]
    # the group filters hold for one and the same group
    async with seats_taken(db, dear_group["id"], 12):
        assert titles(await search(gql, filter={"hasFreeSeats": True, "maxPrice": 2_000_000})) == ["Робототехника"]
        assert titles(await search(gql, filter={"maxPrice": 2_000_000})) == ["Робототехника", "Робототехника PRO"]


async def test_orders_and_keyset_pages(gql, token, db):
    provider = await register_provider(gql, token)
    specs = [  # title, description, price, starts in days, rating (sum, count)
        ("Робототехника", "Роботы и конструкторы.", 900_000, 60, (9, 2)),
        ("Юные робототехники", "Соревнования роботов.", 300_000, 20, (5, 1)),
        ("Программирование", "Пишем код для роботов и робототехники.", 1_500_000, 5, (0, 0)),
        ("Электроника", "Паяем схемы. Немного про робототехнику.", 600_000, 90, (12, 3)),
        ("Авиамоделирование", "Строим модели самолётов.", None, None, (0, 0)),
        ("Радиотехника", "Собираем радиоприёмники.", 600_000, 5, (4, 1)),
    ]
    ids = {}
    for title, description, price, starts, _ in specs:
        program = await create_program(gql, provider, title=title, description=description)
        ids[title] = program["id"]
        if price is not None:
            await create_group(gql, provider, program["id"], price=price, starts_in_days=starts)
            await create_group(gql, provider, program["id"], price=price + 100_000, starts_in_days=starts + 30)
    async with db.begin() as conn:
        for title, _, _, _, (total, count) in specs:
            await conn.execute(
                text("UPDATE programs SET rating_sum = :s, rating_count = :c WHERE id = :id"),
                {"s": total, "c": count, "id": decode_pk(ids[title], "Program")},
            )

    assert titles(await search(gql, order_by="PRICE_ASC")) == [
        "Юные робототехники",
        "Электроника",
        "Радиотехника",
        "Робототехника",
        "Программирование",
        "Авиамоделирование",
    ]
    assert titles(await search(gql, order_by="RATING_DESC")) == [
        "Юные робототехники",
        "Робототехника",
        "Электроника",
        "Радиотехника",
        "Программирование",
        "Авиамоделирование",
    ]  # 4.0 ties by id
    assert titles(await search(gql, order_by="STARTS_ON_ASC")) == [
        "Программирование",
        "Радиотехника",
        "Юные робототехники",
        "Робототехника",
        "Электроника",
        "Авиамоделирование",
    ]
    assert titles(await search(gql)) == [s[0] for s in specs]  # no text: by id
    relevance = titles(await search(gql, search="робототехника"))
    assert relevance[:2] == ["Юные робототехники", "Робототехника"] or relevance[:2] == [
        "Робототехника",
        "Юные робототехники",
    ]
    assert set(relevance[2:]) == {"Программирование", "Электроника"}

    for order in ("RELEVANCE", "PRICE_ASC", "RATING_DESC", "STARTS_ON_ASC"):
        for text_ in (None, "робот"):
            whole = await search(gql, first=100, search=text_, order_by=order)
            paged, after, pages = [], None, 0
            while True:
                page = await search(gql, first=2, search=text_, order_by=order, after=after)
                assert page["totalCount"] == whole["totalCount"]
                assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
                paged += titles(page)
                pages += 1
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert paged == titles(whole), (order, text_)
            assert pages == max(1, (len(paged) + 1) // 2)

    # cursors are stable keys: a program added before the cursor does not shift the next page
    first_page = await search(gql, first=3, order_by="PRICE_ASC")
    newcomer = await create_program(gql, provider, title="Дешёвая робототехника", description="Недорогие роботы.")
    await create_group(gql, provider, newcomer["id"], price=100)
    second = await search(gql, first=3, order_by="PRICE_ASC", after=first_page["pageInfo"]["endCursor"])
    assert titles(second) == ["Робототехника", "Программирование", "Авиамоделирование"]


async def test_bad_paging_arguments_are_top_level_errors(gql, token):
    provider = await register_provider(gql, token)
    await create_program(gql, provider)
    await create_program(gql, provider, title="Робототехника 2")
    price_cursor = (await search(gql, first=1, order_by="PRICE_ASC"))["pageInfo"]["endCursor"]
    query = (
        "query($a: String, $f: Int!, $o: ProgramOrder) { programs(first: $f, after: $a, orderBy: $o) { totalCount } }"
    )
    for first, after, order in (
        (0, None, None),
        (101, None, None),
        (10, "garbage!", None),
        (10, "WzFd", None),
        (10, price_cursor, "RATING_DESC"),
        (10, price_cursor, None),
    ):
        body = await gql(query, {"f": first, "a": after, "o": order}, lang="en")
        assert body["data"] is None, (first, after, order)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    ok = await gql(query, {"f": 10, "a": price_cursor, "o": "PRICE_ASC"})
    assert ok["data"]["programs"]["totalCount"] == 2


async def test_ended_groups_do_not_count_as_upcoming(gql, token):
    provider = await register_provider(gql, token)
    program = await create_program(gql, provider)
    today = date.today()
    await create_group(gql, provider, program["id"], starts_in_days=-60, months=4)  # running
    running = await search(gql, filter={"hasFreeSeats": True}, order_by="STARTS_ON_ASC")
    assert titles(running) == ["Робототехника"]
    assert today - timedelta(days=60) < today


async def test_odd_filter_values_match_nothing_without_errors(gql, token):
    provider = await register_provider(gql, token)
    await create_program(gql, provider)
    for odd in (
        {"age": 2_000_000_000},
        {"age": -1},
        {"municipality": "1"},
        {"maxPrice": -5_000_000_000},
        {"providerId": "Zm9v"},
    ):
        found = await search(gql, filter=odd)
        assert (found["totalCount"], found["edges"]) == (0, []), odd
    assert (await search(gql, search="робот ы"))["totalCount"] == 1  # "робот" & a letter being typed
    # Text with control characters is refused before the search runs (text hygiene, one rule for all inputs).
    for variables, path in (
        ({"filter": {"municipality": "\x00"}}, ["filter", "municipality"]),
        ({"search": "робот\x00ы"}, ["search"]),
    ):
        body = await gql(SEARCH, {"first": 5, **variables})
        assert body["data"] is None
        assert body["errors"][0]["extensions"] == {
            "code": "INVALID",
            "field": path,
            "requestId": body["extensions"]["requestId"],
        }
    assert (await search(gql, filter={"maxPrice": 2_000_000_000}))["totalCount"] == 0  # no group at all
