"""The catalog's one write path as push and sync use it: programs keyed by (provider, external_id)
with the complete lists of their groups, outcomes, archiving, problems under the domain's names."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from pdo_graph.db.session import transaction
from pdo_graph.domain import catalog
from pdo_graph.domain.catalog import Outcome, ProgramItem
from pdo_graph.domain.errors import DomainError
from pdo_graph.domain.identifiers import inn_with_checksum

PROGRAM = catalog.ProgramData(
    title="Робототехника",
    description="Собираем и программируем роботов.",
    direction="TECHNICAL",
    min_age=7,
    max_age=12,
    municipality="01",
    external_id="P-1",
)
GROUP = catalog.GroupData(
    name="Группа 1",
    starts_on=date.today() + timedelta(days=10),
    ends_on=date.today() + timedelta(days=200),
    capacity=10,
    price=900_000,
    external_id="G-1",
)


async def write(db, provider, *items: ProgramItem, archives=()):
    checked = [catalog.check_item(i) for i in items]
    upserted, archived = await transaction(db, lambda c: catalog.write_items(c, provider, checked, archives))
    return [*upserted, *archived]


async def new_provider(db, inn9: str) -> int:
    return await transaction(
        db,
        lambda c: catalog.insert_provider(
            c, catalog.ProviderData("Станция юных техников", inn_with_checksum(inn9), "01")
        ),
    )


async def test_upsert_program_and_groups(db):
    provider = await new_provider(db, "470100099")
    g2 = dataclasses.replace(GROUP, name="Группа 2", external_id="G-2")

    [first] = await write(db, provider, ProgramItem(PROGRAM, (GROUP, g2)))
    assert first.outcome is Outcome.CREATED
    [same] = await write(db, provider, ProgramItem(PROGRAM, (GROUP, g2)))
    assert (same.program_id, same.outcome) == (first.program_id, Outcome.UNCHANGED)
    renamed = dataclasses.replace(PROGRAM, title="  Робототехника  LEGO ")
    [changed] = await write(db, provider, ProgramItem(renamed, (GROUP, g2)))
    assert (changed.program_id, changed.outcome) == (first.program_id, Outcome.UPDATED)
    [group_changed] = await write(db, provider, ProgramItem(renamed, (GROUP, dataclasses.replace(g2, capacity=12))))
    assert group_changed.outcome is Outcome.UPDATED  # one of its groups changed
    # a group no longer listed is archived (its program counts as updated); a listed archived program leaves search
    archived = dataclasses.replace(PROGRAM, title="Робототехника LEGO", archived=True)
    [dropped] = await write(db, provider, ProgramItem(archived, (GROUP,)))
    assert dropped.outcome is Outcome.UPDATED
    async with db.connect() as conn:
        rows = (await conn.execute(text("SELECT external_id, archived FROM groups ORDER BY id"))).all()
        program = (await conn.execute(text("SELECT title, archived, certified FROM programs"))).one()
    assert [tuple(r) for r in rows] == [("G-1", False), ("G-2", True)]
    assert tuple(program) == ("Робототехника LEGO", True, False)

    # a deleted item: the program and its synced groups are archived, once
    assert [r.outcome for r in await write(db, provider, archives=["P-1", "P-9"])] == [
        Outcome.ARCHIVED,
        Outcome.UNCHANGED,
    ]
    assert [r.outcome for r in await write(db, provider, archives=["P-1"])] == [Outcome.UNCHANGED]


async def test_problems_carry_the_items_own_field_names(db):
    provider = await new_provider(db, "470100098")
    bad = dataclasses.replace(PROGRAM, title="Я", min_age=12, max_age=7)
    long_run = dataclasses.replace(GROUP, starts_on=date(2026, 9, 1), ends_on=date(2029, 9, 1))  # 36 months and a day
    [refused] = await write(db, provider, ProgramItem(bad, (GROUP, dataclasses.replace(GROUP, capacity=0), long_run)))
    assert refused.outcome is Outcome.REJECTED and refused.program_id is None
    assert sorted(p.field for p in refused.problems) == [
        ["groups", "1", "capacity"],
        ["groups", "1", "externalId"],  # G-1 twice
        ["groups", "2", "endsOn"],
        ["groups", "2", "externalId"],
        ["maxAge"],
        ["title"],
    ]
    with pytest.raises(ValueError):
        catalog.check_item(ProgramItem(dataclasses.replace(PROGRAM, external_id=None)))
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM programs"))).scalar_one() == 0


async def test_upsert_keeps_certification_unless_the_municipality_changes(db):
    provider = await new_provider(db, "470100097")
    [first] = await write(db, provider, ProgramItem(PROGRAM))
    async with db.begin() as conn:
        await conn.execute(text("UPDATE programs SET certified = true"))

    async def certified() -> bool:
        async with db.connect() as conn:
            query = text("SELECT certified FROM programs WHERE id = :id")
            return bool((await conn.execute(query, {"id": first.program_id})).scalar_one())

    await write(db, provider, ProgramItem(dataclasses.replace(PROGRAM, hours=72)))
    assert await certified()
    await write(db, provider, ProgramItem(dataclasses.replace(PROGRAM, municipality="02")))
    assert not await certified()


@pytest.mark.parametrize(
    ("starts", "last"),
    [
        (date(2026, 9, 1), date(2029, 8, 31)),
        (date(2026, 9, 15), date(2029, 9, 14)),
        (date(2028, 2, 29), date(2031, 2, 28)),  # no 29 February in 2031: the run may end on the 28th
        (date(2027, 12, 31), date(2030, 12, 30)),
    ],
)
def test_a_group_runs_at_most_36_months(starts, last):
    from pdo_graph.domain.catalog.rules import last_day_of_run, normalize_group

    assert last_day_of_run(starts) == last
    assert normalize_group(dataclasses.replace(GROUP, starts_on=starts, ends_on=last)).ends_on == last
    with pytest.raises(DomainError) as caught:
        normalize_group(dataclasses.replace(GROUP, starts_on=starts, ends_on=last + timedelta(days=1)))
    assert [(p.key, p.field, p.params) for p in caught.value.problems] == [
        ("catalog_group_too_long", ["endsOn"], {"max": 36})
    ]
