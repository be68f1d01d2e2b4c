"""Pulling catalogs: full and incremental syncs of both formats, resumption, archives, per-item rules."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integrations.conftest import FAST, catalog_rows, deleted, pdo_group, pdo_program, run_row, source_row


async def test_full_sync_of_pdo_catalog(db, feed, provider_x, make_source, sync):
    feed.put(*[pdo_program(f"P-{i}", 1000 + i) for i in range(7)])
    source = await make_source(provider_x)
    summary = await sync(source, options=replace(FAST, prefetch=2))  # pages fetched ahead of the writes
    assert summary.status == "SUCCEEDED", summary
    assert (summary.created, summary.updated, summary.failed) == (7, 0, 0)
    catalog = await catalog_rows(db, provider_x)
    assert sorted(catalog) == [f"P-{i}" for i in range(7)]
    assert all(len(p["groups"]) == 2 for p in catalog.values())
    assert catalog["P-0"]["row"].direction == "TECHNICAL"
    run = await run_row(db, summary.run_id)
    assert (run.status, run.pages, run.created) == ("SUCCEEDED", 4, 7)  # 3 + 3 + 1 items, then the end page
    src = await source_row(db, source)
    assert src.cursor == feed.served()[-1].url and src.caught_up_at is not None


async def test_full_sync_of_openactive_feed(db, feed, provider_x, make_source, sync):
    from tests.integrations.conftest import oa_course

    feed.put(
        oa_course("C-1", 10),
        oa_course("C-2", 11, price=3000),  # an integer price
        oa_course("C-3", 12, kind="SessionSeries", price="1999.99", activity=[{"prefLabel": "Шахматы"}]),
        oa_course("C-4", 13, ageRange={"minValue": 16, "maxValue": 99}),
        oa_course("C-5", 14, price=0.1 + 0.2),  # 0.30000000000000004: not exact to the kopeck
        oa_course("C-6", 15, ageRange={"minValue": 21}),  # adults only
    )
    source = await make_source(
        provider_x,
        fmt="OPENACTIVE_RPDE",
        jwt_client=True,
        activity_directions=[("шахматы", "SOCIAL_HUMANITARIAN")],
    )
    summary = await sync(source)
    assert summary.status == "PARTIAL", summary
    assert (summary.created, summary.failed) == (4, 2)
    catalog = await catalog_rows(db, provider_x)
    c1 = catalog["C-1"]
    assert c1["row"].direction == "PHYSICAL_SPORTS" and (c1["row"].min_age, c1["row"].max_age) == (6, 12)
    assert c1["row"].municipality == "01"
    assert c1["groups"]["C-1"].price == 450_050 and c1["groups"]["C-1"].capacity == 15
    assert catalog["C-2"]["groups"]["C-2"].price == 300_000
    assert catalog["C-3"]["groups"]["C-3"].price == 199_999
    assert catalog["C-3"]["row"].direction == "SOCIAL_HUMANITARIAN"
    assert (catalog["C-4"]["row"].min_age, catalog["C-4"]["row"].max_age) == (16, 18)
    run = await run_row(db, summary.run_id)
    reasons = {f["externalId"]: f["problems"][0]["key"] for f in run.failures}
    assert reasons == {"C-5": "sync_oa_price_inexact", "C-6": "sync_oa_age_outside"}


async def test_incremental_sync_touches_only_what_changed(db, feed, provider_x, make_source, sync):
    feed.put(*[pdo_program(f"P-{i}", 100 + i) for i in range(6)])
    source = await make_source(provider_x)
    first = await sync(source)
    assert first.created == 6
    before = await catalog_rows(db, provider_x)
    requests_before = len(feed.log)

    feed.put(
        pdo_program("P-1", 200, title="Робототехника для начинающих"),
        pdo_program("P-2", 201, groups=[pdo_group("P-2-G1", price=950_000)]),  # G2 dropped, G1 dearer
        deleted("P-3", 202),
        pdo_program("P-9", 203),
    )
    second = await sync(source)
    assert second.status == "SUCCEEDED"
    assert (second.created, second.updated, second.archived, second.unchanged) == (1, 2, 1, 0)
    assert second.full_harvest is False
    # it asked from where it stopped, not from the start of the feed
    assert feed.log[requests_before].url == first_cursor(feed, requests_before)
    after = await catalog_rows(db, provider_x)
    assert after["P-1"]["row"].title == "Робототехника для начинающих"
    assert after["P-2"]["groups"]["P-2-G1"].price == 950_000
    assert after["P-2"]["groups"]["P-2-G2"].archived and not after["P-2"]["groups"]["P-2-G1"].archived
    assert after["P-3"]["row"].archived and all(g.archived for g in after["P-3"]["groups"].values())
    assert "P-9" in after
    for untouched in ("P-0", "P-4", "P-5"):
        assert after[untouched]["row"].modified_at == before[untouched]["row"].modified_at
        for gid, g in after[untouched]["groups"].items():
            assert g.modified_at == before[untouched]["groups"][gid].modified_at

    third = await sync(source)
    assert (third.status, third.items, third.pages) == ("SUCCEEDED", 0, 1)


def first_cursor(feed, index):
    """The URL of the first request of the second run is the cursor stored by the first run."""
    return feed.log[index - 1].url


async def test_crash_between_pages_resumes_at_the_stored_cursor(db, feed, provider_x, make_source, sync):
    from pdo_graph.integrations.sync.run import RunHooks

    feed.put(*[pdo_program(f"P-{i:02d}", 100 + i) for i in range(10)])
    source = await make_source(provider_x)

    class Crash(BaseException):
        pass

    def crash_after_second_page(page):
        if page == 2:
            raise Crash()

    try:
        await sync(source, hooks=RunHooks(after_commit=crash_after_second_page))
    except Crash:
        pass
    else:
        raise AssertionError("the run did not crash")
    assert len(await catalog_rows(db, provider_x)) == 6
    src = await source_row(db, source)
    assert src.cursor.endswith("afterTimestamp=105&afterId=P-05")
    async with db.connect() as conn:
        crashed = (
            await conn.execute(text("SELECT * FROM catalog_sync_runs WHERE source_id = :s"), {"s": source})
        ).one()
    assert crashed.status == "RUNNING" and crashed.pages == 2 and crashed.created == 6

    resumed = await sync(source)
    assert resumed.status == "SUCCEEDED"
    assert resumed.created == 4 and resumed.updated == 0 and resumed.unchanged == 0
    assert feed.served()[-resumed.pages].url == src.cursor  # resumed exactly at the cursor
    catalog = await catalog_rows(db, provider_x)
    assert sorted(catalog) == [f"P-{i:02d}" for i in range(10)]
    interrupted = await run_row(db, crashed.id)
    assert interrupted.status == "FAILED" and interrupted.message_key == "sync_interrupted"
    async with db.connect() as conn:
        total = (
            await conn.execute(text("SELECT sum(created) FROM catalog_sync_runs WHERE source_id = :s"), {"s": source})
        ).scalar()
        groups = (await conn.execute(text("SELECT count(*) FROM groups"))).scalar()
    assert total == 10 and groups == 20


async def test_crash_inside_a_page_leaves_nothing_of_it(db, feed, provider_x, make_source, sync):
    from pdo_graph.integrations.sync.run import RunHooks

    feed.put(*[pdo_program(f"P-{i}", 100 + i) for i in range(6)])
    source = await make_source(provider_x)

    class Crash(BaseException):
        pass

    def crash_in_second_page(page):
        if page == 2:
            raise Crash()

    try:
        await sync(source, hooks=RunHooks(before_commit=crash_in_second_page))
    except Crash:
        pass
    assert sorted(await catalog_rows(db, provider_x)) == ["P-0", "P-1", "P-2"]
    resumed = await sync(source)
    assert (resumed.status, resumed.created) == ("SUCCEEDED", 3)
    assert len(await catalog_rows(db, provider_x)) == 6


async def test_stale_items_are_ignored(db, feed, provider_x, make_source, sync):
    feed.put(pdo_program("P-1", 500, title="Новая версия программы"))
    source = await make_source(provider_x)
    assert (await sync(source)).created == 1
    # the publisher's table is restored from an old backup; we read the feed from its start again
    feed.reset()
    feed.put(pdo_program("P-1", 400, title="Старая версия программы"), pdo_program("P-2", 401))
    again = await sync(source, from_start=True)
    assert (again.skipped, again.created) == (1, 1)
    catalog = await catalog_rows(db, provider_x)
    assert catalog["P-1"]["row"].title == "Новая версия программы"


async def test_full_reharvest_archives_what_the_feed_no_longer_has(db, feed, provider_x, make_source, sync):
    feed.put(*[pdo_program(f"P-{i}", 100 + i) for i in range(4)])
    source = await make_source(provider_x)
    await sync(source)
    # P-2 vanished without a tombstone (kept only 7 days by the publisher)
    del feed.items["P-2"]
    async with db.begin() as conn:  # the last time the feed was read to its end: 8 days ago
        await conn.execute(
            text("UPDATE catalog_sources SET caught_up_at = now() - interval '8 days' WHERE id = :s"), {"s": source}
        )
    summary = await sync(source)
    assert summary.full_harvest and summary.archived == 1 and summary.unchanged == 3
    run = await run_row(db, summary.run_id)
    assert [e["key"] for e in run.events] == ["sync_event_outage_reharvest", "sync_event_harvest_archived"]
    catalog = await catalog_rows(db, provider_x)
    assert catalog["P-2"]["row"].archived and not catalog["P-1"]["row"].archived
    assert all(g.archived for g in catalog["P-2"]["groups"].values())


async def add_enrollment(engine, group_id: int, n: int = 1) -> int:
    """An ACTIVE contract paid wholly by the family (from_certificate 0, nothing reserved), its seat taken."""
    async with engine.begin() as conn:
        guardian = (
            await conn.execute(text("INSERT INTO guardians (subject) VALUES (:s) RETURNING id"), {"s": f"g-{n}"})
        ).scalar()
        child = (
            await conn.execute(
                text(
                    "INSERT INTO children (guardian_id, full_name, name_key, birth_date, municipality)"
                    " VALUES (:g, :name, :key, '2015-03-01', '01') RETURNING id"
                ),
                {"g": guardian, "name": f"Иванов Иван {n}", "key": f"иванов иван {n}"},
            )
        ).scalar()
        certificate = (
            await conn.execute(
                text(
                    "INSERT INTO certificates (number, child_id, municipality, issued_on, valid_until)"
                    " VALUES (:num, :c, '01', current_date, current_date + 3650) RETURNING id"
                ),
                {"num": f"01{n:08d}", "c": child},
            )
        ).scalar()
        period = (await conn.execute(text("SELECT id FROM funding_periods WHERE municipality = '01'"))).scalar()
        if period is None:
            period = (
                await conn.execute(
                    text(
                        "INSERT INTO funding_periods (municipality, starts_on, ends_on)"
                        " VALUES ('01', current_date - 30, current_date + 300) RETURNING id"
                    )
                )
            ).scalar()
        price = (await conn.execute(text("SELECT price FROM groups WHERE id = :g"), {"g": group_id})).scalar()
        enrollment = (
            await conn.execute(
                text(
                    "INSERT INTO enrollments (certificate_id, child_id, group_id, period_id, guardian_id, status, price,"
                    " from_certificate, from_family, first_month, months, reserved, idempotency_key, request_hash)"
                    " VALUES (:cert, :child, :g, :period, :guardian, 'ACTIVE', :price, 0, :price,"
                    " date_trunc('month', current_date)::date, 8, 0, 'k-1', 'h') RETURNING id"
                ),
                {
                    "cert": certificate,
                    "child": child,
                    "g": group_id,
                    "period": period,
                    "guardian": guardian,
                    "price": price,
                },
            )
        ).scalar()
        await conn.execute(text("UPDATE groups SET seats_taken = seats_taken + 1 WHERE id = :g"), {"g": group_id})
    return int(enrollment)


async def test_groups_with_children_are_archived_never_deleted(db, feed, provider_x, make_source, sync):
    feed.put(pdo_program("P-1", 100, groups=[pdo_group("G-1", capacity=3), pdo_group("G-2")]))
    source = await make_source(provider_x)
    await sync(source)
    g1 = (await catalog_rows(db, provider_x))["P-1"]["groups"]["G-1"].id
    enrollment = await add_enrollment(db, g1)

    # capacity down to the one seat taken and a new price (for new applications): accepted
    feed.put(pdo_program("P-1", 101, groups=[pdo_group("G-1", capacity=1, price=1_000_000), pdo_group("G-2")]))
    assert (await sync(source)).updated == 1
    # the group disappears from the program: archived, not deleted
    feed.put(pdo_program("P-1", 102, groups=[pdo_group("G-2")]))
    assert (await sync(source)).updated == 1
    # the program is deleted in the provider's system: archived here
    feed.put(deleted("P-1", 103))
    gone = await sync(source)
    assert gone.archived == 1
    async with db.connect() as conn:
        group = (await conn.execute(text("SELECT * FROM groups WHERE id = :g"), {"g": g1})).one()
        program = (
            await conn.execute(text("SELECT archived FROM programs WHERE id = :p"), {"p": group.program_id})
        ).one()
        contract = (
            await conn.execute(text("SELECT status, group_id, price FROM enrollments WHERE id = :e"), {"e": enrollment})
        ).one()
    assert group.archived and group.seats_taken == 1 and group.capacity == 1 and group.price == 1_000_000
    assert program.archived
    assert tuple(contract) == ("ACTIVE", g1, 900_000)  # the running contract keeps its price


async def test_capacity_below_seats_taken_is_refused_per_item(db, feed, provider_x, make_source, sync):
    feed.put(pdo_program("P-1", 100, groups=[pdo_group("G-1", capacity=3)]), pdo_program("P-2", 101))
    source = await make_source(provider_x)
    await sync(source)
    g1 = (await catalog_rows(db, provider_x))["P-1"]["groups"]["G-1"].id
    await add_enrollment(db, g1, 1)
    await add_enrollment(db, g1, 2)
    feed.put(
        pdo_program("P-1", 200, title="Изменённое название", groups=[pdo_group("G-1", capacity=1)]),
        pdo_program("P-2", 201, title="Тоже изменено"),
    )
    summary = await sync(source)
    assert summary.failed == 1
    run = await run_row(db, summary.run_id)
    problem = run.failures[0]["problems"][0]
    assert (run.failures[0]["externalId"], problem["key"]) == ("P-1", "catalog_capacity_below_taken")
    assert problem["field"] == ["data", "groups", "G-1", "capacity"] and problem["params"] == {"taken": 2}
    catalog = await catalog_rows(db, provider_x)
    assert catalog["P-1"]["row"].title == "Программа P-1"  # the refused item changed nothing
    assert catalog["P-1"]["groups"]["G-1"].capacity == 3
    assert catalog["P-2"]["row"].title == "Тоже изменено"


async def test_foreign_provider_data_is_refused(db, feed, provider_x, provider_y, make_source, sync):
    from tests.integrations.conftest import OTHER_INN

    feed.put(pdo_program("P-1", 100), pdo_program("P-2", 101, providerInn=OTHER_INN))
    source = await make_source(provider_x)
    summary = await sync(source)
    assert (summary.created, summary.failed) == (1, 1)
    run = await run_row(db, summary.run_id)
    assert run.failures[0]["externalId"] == "P-2"
    assert run.failures[0]["problems"][0]["key"] == "sync_item_foreign_provider"
    assert await catalog_rows(db, provider_y) == {}


DOCS = Path(__file__).resolve().parents[2] / "docs"


async def test_example_feed_in_docs_is_valid_and_syncs(db, feed, provider_x, make_source, sync):
    schema = json.loads((DOCS / "pdo-catalog-v1.schema.json").read_bytes())
    example = json.loads((DOCS / "pdo-catalog-v1.example.json").read_bytes())
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    validator = jsonschema_rs.validator_for(schema)
    validator.validate(example)
    assert not validator.is_valid(
        {"items": [{"id": "x", "state": "updated", "kind": "program", "modified": 1}], "next": "https://a.org/f"}
    )  # an updated item needs its data
    feed.put(*example["items"])
    source = await make_source(provider_x)
    summary = await sync(source)
    assert summary.status == "SUCCEEDED", summary.message("en")
    assert (summary.created, summary.unchanged) == (2, 1)  # the tombstone is of a program never seen
    catalog = await catalog_rows(db, provider_x)
    robotics = catalog["PRG-0001"]
    assert robotics["row"].normative_cost == 1_800_000 and robotics["row"].hours == 72
    assert robotics["groups"]["PRG-0001-A"].schedule == "вторник и четверг, 16:00–17:30"
    assert catalog["PRG-0002"]["row"].direction == "NATURAL_SCIENCE"
