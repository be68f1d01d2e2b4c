"""coveredByCertificate: only groups the certificate's available balance pays in full, for readers of it."""

from __future__ import annotations

from datetime import date, timedelta

from pdo_graph.domain.money import add_months, month_start
from tests.catalog.steps import GROUP_CREATE, create_group, create_program, mutate, register_provider, search, titles
from tests.helpers import new_certificate, open_period

NOMINAL = 1_000_000  # 10 000 ₽


async def running_group(gql, provider, program_id: str, price: int) -> None:
    """Started two months ago, ends in three: 6 months, 4 left, so joining now costs 4/6 of the price."""
    today = date.today()
    starts = add_months(month_start(today), -2)
    ends = add_months(month_start(today), 4) - timedelta(days=1)
    result = await mutate(
        gql,
        GROUP_CREATE,
        "groupCreate",
        {
            "programId": program_id,
            "name": "Идёт с осени",
            "startsOn": starts.isoformat(),
            "endsOn": ends.isoformat(),
            "capacity": 10,
            "price": price,
        },
        provider["token"],
    )
    assert result["userErrors"] == [], result


async def test_covered_by_certificate(gql, token):
    today = date.today()
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    opened = await open_period(
        gql, token, "01", today - timedelta(days=30), today + timedelta(days=330), [(5, 17, NOMINAL)]
    )
    assert opened["userErrors"] == [] and opened["certificatesCredited"] == 1

    provider = await register_provider(gql, token)

    async def program(title: str, prices: list[int], certified: bool = True, running: int | None = None) -> None:
        created = await create_program(
            gql,
            provider,
            certify_with=token if certified else None,
            title=title,
            description="Занятия в небольших группах для школьников.",
        )
        for price in prices:
            await create_group(gql, provider, created["id"], price=price)
        if running is not None:
            await running_group(gql, provider, created["id"], running)

    await program("Робототехника", [800_000])
    await program("Живопись", [1_200_000])
    await program("Танцы", [2_000_000, NOMINAL])  # one of two groups is covered, exactly
    await program("Шахматы", [300_000], certified=False)  # cheap, but a certificate cannot pay for it
    await program("Футбол", [], running=1_500_000)  # 4/6 of 1 500 000 = 1 000 000: covered
    await program("Хоккей", [], running=1_560_000)  # 4/6 of 1 560 000 = 1 040 000: not covered

    alice = token("GUARDIAN", "alice")
    mine = await search(gql, filter={"coveredByCertificate": cert["id"]}, token=alice)
    assert titles(mine) == ["Робототехника", "Танцы", "Футбол"]
    assert mine["totalCount"] == 3
    assert titles(
        await search(gql, filter={"coveredByCertificate": cert["id"]}, order_by="PRICE_ASC", token=alice)
    ) == ["Робототехника", "Танцы", "Футбол"]
    assert titles(await search(gql, search="робот", filter={"coveredByCertificate": cert["id"]}, token=alice)) == [
        "Робототехника"
    ]
    operator = token("OPERATOR", "op-01", municipality="01")
    assert titles(await search(gql, filter={"coveredByCertificate": cert["id"]}, token=operator)) == titles(mine)
    assert (await search(gql, filter={"coveredByCertificate": cert["id"], "maxPrice": 900_000}, token=alice))[
        "totalCount"
    ] == 1

    # not readable by the caller, unknown or malformed: the filter matches nothing
    for who in (
        token("GUARDIAN", "bob"),
        token("OPERATOR", "op-02", municipality="02"),
        token("PROVIDER", "p", provider=provider["inn"]),
    ):
        nothing = await search(gql, filter={"coveredByCertificate": cert["id"]}, token=who)
        assert (nothing["totalCount"], nothing["edges"]) == (0, [])
        assert all(f["count"] == 0 for f in nothing["facets"])
    for bad in ("not-an-id", provider["id"]):
        assert (await search(gql, filter={"coveredByCertificate": bad}, token=alice))["totalCount"] == 0
    anonymous = await gql(
        "query($c: ID!) { programs(first: 5, filter: {coveredByCertificate: $c}) { totalCount } }", {"c": cert["id"]}
    )
    assert anonymous["data"] is None
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    # a frozen certificate pays for nothing
    freeze = "mutation($id: ID!) { certificateFreeze(input: {certificateId: $id}) { userErrors { code } } }"
    assert (await gql(freeze, {"id": cert["id"]}, token=operator))["data"]["certificateFreeze"]["userErrors"] == []
    assert (await search(gql, filter={"coveredByCertificate": cert["id"]}, token=alice))["totalCount"] == 0


async def test_without_an_open_period_only_free_groups_are_covered(gql, token):
    cert = await new_certificate(gql, token, "alice", "Смирнов Артём Павлович", 10)
    provider = await register_provider(gql, token)
    free = await create_program(
        gql, provider, certify_with=token, title="Бесплатный кружок", description="Занятия проводятся за счёт бюджета."
    )
    await create_group(gql, provider, free["id"], price=0)
    paid = await create_program(
        gql, provider, certify_with=token, title="Платный кружок", description="Занятия оплачиваются сертификатом."
    )
    await create_group(gql, provider, paid["id"], price=100)
    found = await search(gql, filter={"coveredByCertificate": cert["id"]}, token=token("GUARDIAN", "alice"))
    assert titles(found) == ["Бесплатный кружок"]
