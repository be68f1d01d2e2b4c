"""The data functions a catalog sync reuses: upsert by (provider, external_id), statuses, archiving."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from pdo_graph.db.session import transaction
from pdo_graph.domain import catalog
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


async def test_upsert_program_and_groups(db):
    provider = await transaction(
        db,
        lambda c: catalog.insert_provider(
            c, catalog.ProviderData("Станция юных техников", inn_with_checksum("470100099"), "01")
        ),
    )

    first = await transaction(db, lambda c: catalog.upsert_program(c, provider, PROGRAM))
    assert first.status is catalog.UpsertStatus.CREATED
    same = await transaction(db, lambda c: catalog.upsert_program(c, provider, PROGRAM))
    assert (same.id, same.status) == (first.id, catalog.UpsertStatus.UNCHANGED)
    changed = await transaction(
        db, lambda c: catalog.upsert_program(c, provider, dataclasses.replace(PROGRAM, title="  Робототехника  LEGO "))
    )
    assert (changed.id, changed.status) == (first.id, catalog.UpsertStatus.UPDATED)
    # the feed archives a program: it leaves search but keeps its id
    archived = await transaction(
        db,
        lambda c: catalog.upsert_program(
            c, provider, dataclasses.replace(PROGRAM, title="Робототехника LEGO", archived=True)
        ),
    )
    assert archived.status is catalog.UpsertStatus.UPDATED

    g1 = await transaction(db, lambda c: catalog.upsert_group(c, first.id, GROUP))
    g2 = await transaction(
        db, lambda c: catalog.upsert_group(c, first.id, dataclasses.replace(GROUP, name="Группа 2", external_id="G-2"))
    )
    assert {g1.status, g2.status} == {catalog.UpsertStatus.CREATED}
    again = await transaction(db, lambda c: catalog.upsert_group(c, first.id, GROUP))
    assert again.status is catalog.UpsertStatus.UNCHANGED
    gone = await transaction(db, lambda c: catalog.archive_groups_except(c, first.id, ["G-1"]))
    assert gone == 1
    async with db.connect() as conn:
        rows = (await conn.execute(text("SELECT external_id, archived FROM groups ORDER BY id"))).all()
        program = (await conn.execute(text("SELECT title, archived, certified FROM programs"))).one()
    assert [tuple(r) for r in rows] == [("G-1", False), ("G-2", True)]
    assert tuple(program) == ("Робототехника LEGO", True, False)


async def test_upsert_validation_uses_the_given_path(db):
    provider = await transaction(
        db,
        lambda c: catalog.insert_provider(
            c, catalog.ProviderData("Школа искусств", inn_with_checksum("470100098"), "01")
        ),
    )
    bad = dataclasses.replace(PROGRAM, title="Я", min_age=12, max_age=7)
    with pytest.raises(DomainError) as caught:
        await transaction(db, lambda c: catalog.upsert_program(c, provider, bad, at=["input", "items", "3"]))
    assert sorted(p.field for p in caught.value.problems) == [
        ["input", "items", "3", "maxAge"],
        ["input", "items", "3", "title"],
    ]
    with pytest.raises(ValueError):
        await transaction(
            db, lambda c: catalog.upsert_program(c, provider, dataclasses.replace(PROGRAM, external_id=None))
        )


async def test_upsert_keeps_certification_unless_the_municipality_changes(db):
    provider = await transaction(
        db,
        lambda c: catalog.insert_provider(
            c, catalog.ProviderData("Дом творчества", inn_with_checksum("470100097"), "01")
        ),
    )
    first = await transaction(db, lambda c: catalog.upsert_program(c, provider, PROGRAM))
    async with db.begin() as conn:
        await conn.execute(text("UPDATE programs SET certified = true"))

    async def certified() -> bool:
        async with db.connect() as conn:
            return bool(
                (
                    await conn.execute(text("SELECT certified FROM programs WHERE id = :id"), {"id": first.id})
                ).scalar_one()
            )

    await transaction(db, lambda c: catalog.upsert_program(c, provider, dataclasses.replace(PROGRAM, hours=72)))
    assert await certified()
    await transaction(
        db, lambda c: catalog.upsert_program(c, provider, dataclasses.replace(PROGRAM, municipality="02"))
    )
    assert not await certified()
