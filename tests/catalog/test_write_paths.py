"""The catalog's write paths agree: generated catalogs written round after round (upserts of programs
with all their groups, deletions, seats taken and certification in between) end in the same rows and
the same per-item results whichever path writes them.

Two providers with the same external ids live side by side, one written by each path, in the same
database; after every round their results and their rows are compared.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.db.engine import make_engine
from pdo_graph.db.session import transaction
from pdo_graph.domain.catalog import GroupData, ProgramData
from pdo_graph.domain.catalog_batch import ProgramWithGroups
from pdo_graph.domain.identifiers import inn_with_checksum
from pdo_graph.integrations import writer

BASE = date(2026, 9, 1)
PROGRAM_IDS = ("P-1", "P-2", "P-3")
GROUP_IDS = ("G-1", "G-2", "G-3")

valid_groups = st.builds(
    GroupData,
    name=st.sampled_from(["Группа 1", "  Группа   2 "]),
    starts_on=st.sampled_from([BASE, BASE + timedelta(days=30)]),
    ends_on=st.sampled_from([BASE + timedelta(days=120), BASE + timedelta(days=240)]),
    capacity=st.sampled_from([1, 2, 3, 10]),
    price=st.sampled_from([0, 900_000, 1_200_000]),
    enrollment_open=st.booleans(),
    schedule=st.sampled_from([None, "пн, ср 16:00", "  "]),
    external_id=st.sampled_from(GROUP_IDS),
    archived=st.booleans(),
)
GROUP_DEFECTS = [{"name": ""}, {"capacity": 0}, {"price": -5}, {"ends_on": BASE - timedelta(days=1)}]
valid_programs = st.builds(
    ProgramData,
    title=st.sampled_from(["Робототехника", "Шахматы для начинающих"]),
    description=st.sampled_from(["Собираем и программируем роботов.", "Играем в шахматы и решаем задачи."]),
    direction=st.sampled_from(["TECHNICAL", "ARTS"]),
    min_age=st.sampled_from([5, 7]),
    max_age=st.sampled_from([10, 12]),
    municipality=st.sampled_from(["01", "02"]),
    normative_cost=st.sampled_from([None, 1_000_000]),
    hours=st.sampled_from([None, 72]),
    form=st.sampled_from(["очная", "Очно-заочная"]),
    external_id=st.sampled_from(PROGRAM_IDS),
    archived=st.booleans(),
)
PROGRAM_DEFECTS = [{"title": "Я"}, {"direction": "COOKING"}, {"max_age": 19}, {"municipality": "99"}, {"hours": 0}]


def spoilt(valid: st.SearchStrategy[Any], defects: list[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """Mostly valid values; about one in six breaks one rule."""
    broken = st.builds(lambda v, d: dataclasses.replace(v, **d), valid, st.sampled_from(defects))
    return st.integers(0, 5).flatmap(lambda n: broken if n == 0 else valid)


items = st.builds(
    lambda p, gs: ProgramWithGroups(p, tuple(gs)),
    spoilt(valid_programs, PROGRAM_DEFECTS),
    st.lists(spoilt(valid_groups, GROUP_DEFECTS), max_size=3),
)


@dataclass(frozen=True)
class Round:
    upserts: list[ProgramWithGroups]
    archives: list[str]
    seats: list[tuple[str, str, int]]  # (program, group, seats taken) set before the round where the group exists
    certify: list[str]  # programs certified before the round


@st.composite
def rounds(draw: st.DrawFn) -> Round:
    upserts = draw(st.lists(items, max_size=3, unique_by=lambda i: i.program.external_id))
    taken = {i.program.external_id for i in upserts}
    archives = draw(st.lists(st.sampled_from([p for p in PROGRAM_IDS if p not in taken] or ["P-9"]), unique=True))
    seats = draw(
        st.lists(st.tuples(st.sampled_from(PROGRAM_IDS), st.sampled_from(GROUP_IDS), st.integers(1, 4)), max_size=3)
    )
    certify = draw(st.lists(st.sampled_from(PROGRAM_IDS), max_size=2, unique=True))
    return Round(upserts, archives, seats, certify)


Writer = Callable[[AsyncConnection, int, Sequence[ProgramWithGroups], Sequence[str]], Awaitable[list[Any]]]


async def per_row(conn: AsyncConnection, provider: int, upserts: Sequence[ProgramWithGroups], archives: Sequence[str]):
    upserted, archived = await writer.apply_page_items(conn, provider, upserts, archives, batch=False)
    return [*upserted, *(dataclasses.replace(a, program_id=None) for a in archived)]  # archives: ids not reported


async def set_based(
    conn: AsyncConnection, provider: int, upserts: Sequence[ProgramWithGroups], archives: Sequence[str]
):
    upserted, archived = await writer.apply_page_items(conn, provider, upserts, archives, batch=True)
    return [*upserted, *(dataclasses.replace(a, program_id=None) for a in archived)]


def outcome(result: Any, names: dict[int, str]) -> tuple[Any, ...]:
    problems = sorted((p.code, p.key, tuple(p.field or ()), tuple(sorted(p.params.items()))) for p in result.problems)
    return (str(result.outcome), names.get(result.program_id) if result.program_id else None, problems)


async def snapshot(conn: AsyncConnection, provider: int) -> tuple[dict[str, Any], dict[int, str]]:
    programs = await conn.execute(
        text(
            "SELECT id, external_id, title, description, direction, min_age, max_age, municipality, normative_cost,"
            " hours, form, address, latitude, longitude, archived, certified FROM programs WHERE provider_id = :p"
        ),
        {"p": provider},
    )
    names: dict[int, str] = {}
    rows: dict[str, Any] = {}
    for r in programs:
        names[r.id] = r.external_id
        rows[r.external_id] = tuple(r)[2:]
    groups = await conn.execute(
        text(
            "SELECT p.external_id AS program, g.external_id, g.name, g.starts_on, g.ends_on, g.capacity, g.price,"
            " g.enrollment_open, g.schedule, g.archived, g.seats_taken FROM groups g"
            " JOIN programs p ON p.id = g.program_id WHERE p.provider_id = :p"
        ),
        {"p": provider},
    )
    for g in groups:
        rows[f"{g.program}/{g.external_id}"] = tuple(g)[2:]
    return rows, names


async def between_rounds(conn: AsyncConnection, provider: int, round_: Round) -> None:
    for program, group, seats in round_.seats:
        await conn.execute(
            text(
                "UPDATE groups g SET seats_taken = LEAST(:n, g.capacity) FROM programs p"
                " WHERE p.id = g.program_id AND p.provider_id = :p AND p.external_id = :pe AND g.external_id = :ge"
            ),
            {"n": seats, "p": provider, "pe": program, "ge": group},
        )
    await conn.execute(
        text("UPDATE programs SET certified = true WHERE provider_id = :p AND external_id = ANY(:e)"),
        {"p": provider, "e": round_.certify},
    )


async def write_rounds(engine: AsyncEngine, write: Writer, provider: int, plan: list[Round]) -> list[Any]:
    """Each round's results and the rows after it."""
    trail = []
    for round_ in plan:
        await transaction(engine, lambda c, r=round_: between_rounds(c, provider, r))
        results = await transaction(engine, lambda c, r=round_: write(c, provider, r.upserts, r.archives))
        async with engine.connect() as conn:
            rows, names = await snapshot(conn, provider)
        trail.append(([outcome(r, names) for r in results], rows))
    return trail


async def fresh_providers(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE providers, programs, groups RESTART IDENTITY CASCADE"))
        ids = []
        for name, inn in (("Станция юных техников", "470100091"), ("Дом творчества", "470100092")):
            ids.append(
                (
                    await conn.execute(
                        text("INSERT INTO providers (name, inn, municipality) VALUES (:n, :i, '01') RETURNING id"),
                        {"n": name, "i": inn_with_checksum(inn)},
                    )
                ).scalar_one()
            )
        return int(ids[0]), int(ids[1])


def both_or_neither(per_row: list[Any], set_based: list[Any]) -> bool:
    """Both refuse the same items, each with its own reasons: the per-row path stops at its first
    refusing step (duplicate group ids, the program's rules, its municipality, then each group in
    turn), the set-based one reports every rule needing no database at once (duplicates only among
    valid groups), and the database's rules (municipality, seats taken) only when those pass."""
    return bool(per_row) == bool(set_based)


def agree(url: str, first: Writer, second: Writer, examples: int, same_problems: Callable[..., bool]) -> None:
    loop = asyncio.new_event_loop()
    engine = make_engine(url, 2)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(plan=st.lists(rounds(), min_size=1, max_size=4))
    def check(plan: list[Round]) -> None:
        async def run() -> None:
            a, b = await fresh_providers(engine)
            left = await write_rounds(engine, first, a, plan)
            right = await write_rounds(engine, second, b, plan)
            for n, ((one, rows_one), (other, rows_other)) in enumerate(zip(left, right, strict=True)):
                differ = {k: (rows_one.get(k), rows_other.get(k)) for k in rows_one.keys() | rows_other.keys()}
                differ = {k: v for k, v in differ.items() if v[0] != v[1]}
                assert not differ, f"round {n}: the rows differ: {differ}"
                for (status, program, problems), (status2, program2, problems2) in zip(one, other, strict=True):
                    assert (status, program) == (status2, program2), f"round {n}: the results differ"
                    assert same_problems(problems, problems2), f"round {n}: the problems differ"

        loop.run_until_complete(run())

    try:
        check()
    finally:
        loop.run_until_complete(_clean(engine))
        loop.run_until_complete(engine.dispose())
        loop.close()


async def _clean(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE groups SET seats_taken = 0"))


async def test_per_row_and_set_based_writes_agree(db, database_url):
    await asyncio.to_thread(agree, database_url, per_row, set_based, 150, both_or_neither)
