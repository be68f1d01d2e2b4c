"""The catalog's one write path follows the reference model (tests/catalog/catalog_model.py):
generated catalogs written round after round (upserts of programs with all their groups, deletions,
seats taken and certification in between) end in the same rows, outcomes and problems.

The model was first checked against the two paths this one replaced, the per-row writes
(``upsert_program``, ``upsert_group``, ``archive_groups_except``) and the set-based ``catalog_batch``,
over the same generated rounds (git history of this file): both followed it in rows and outcomes
(each with its own, less complete, list of problems) once the set-based path withdrew certification
from a program moved to another municipality, as the per-row path did. Here problems must match too.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pdo_graph.db.engine import make_engine
from pdo_graph.db.session import transaction
from pdo_graph.domain import catalog
from pdo_graph.domain.catalog import GroupData, ProgramData, ProgramItem
from pdo_graph.domain.identifiers import inn_with_checksum
from tests.catalog.catalog_model import CatalogModel

BASE = date(2026, 9, 1)
PROGRAM_IDS = ("P-1", "P-2", "P-3")
GROUP_IDS = ("G-1", "G-2", "G-3")

valid_groups = st.builds(
    GroupData,
    name=st.sampled_from(["Группа 1", "  Группа   2 "]),
    starts_on=st.sampled_from([BASE, BASE + timedelta(days=30)]),
    ends_on=st.sampled_from([BASE + timedelta(days=120), BASE + timedelta(days=240)]),
    capacity=st.sampled_from([1, 2, 3]),
    price=st.sampled_from([0, 900_000, 1_200_000]),
    enrollment_open=st.booleans(),
    schedule=st.sampled_from([None, "пн, ср 16:00", "  "]),
    external_id=st.just("G-0"),  # set per group by `plans`
    archived=st.booleans(),
)
GROUP_DEFECTS = [
    {"name": ""},
    {"capacity": 0},
    {"price": -5},
    {"ends_on": BASE - timedelta(days=1)},
    {"ends_on": date(2029, 9, 1)},  # 36 months and a day
    {"starts_on": date(1999, 12, 31)},
]
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
    external_id=st.just("P-0"),  # set per program by `plans`
    archived=st.booleans(),
)
PROGRAM_DEFECTS = [{"title": "Я"}, {"direction": "COOKING"}, {"max_age": 19}, {"municipality": "99"}, {"hours": 0}]


def spoilt(valid: st.SearchStrategy[Any], defects: list[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """Mostly valid values; about one in ten breaks one rule."""
    broken = st.builds(lambda v, d: dataclasses.replace(v, **d), valid, st.sampled_from(defects))
    return st.integers(0, 9).flatmap(lambda n: broken if n == 4 else valid)  # hypothesis favours the ends


@dataclass(frozen=True)
class Round:
    upserts: list[ProgramItem]
    archives: list[str]
    seats: list[tuple[str, str, int]]  # (program, group, seats taken) set before the round where the group exists
    certify: list[str]  # programs certified before the round


@st.composite
def plans(draw: st.DrawFn) -> list[Round]:
    """Rounds that send again what was sent before (a program's few versions, its few groups), so that
    unchanged items, dropped groups and capacity against seats taken come up often."""
    versions = {
        pid: draw(st.lists(spoilt(valid_programs, PROGRAM_DEFECTS), min_size=1, max_size=2)) for pid in PROGRAM_IDS
    }

    def versions_of(gid: str) -> list[GroupData]:
        """One or two versions of a group: the second one another run, or the first with fewer seats."""
        first = dataclasses.replace(draw(spoilt(valid_groups, GROUP_DEFECTS)), external_id=gid)
        second = draw(
            st.one_of(
                st.none(),
                st.builds(lambda g: dataclasses.replace(g, external_id=gid), spoilt(valid_groups, GROUP_DEFECTS)),
                st.just(dataclasses.replace(first, capacity=max(1, first.capacity - 1))),
            )
        )
        return [first] if second is None else [first, second]

    pools = {(pid, gid): versions_of(gid) for pid in PROGRAM_IDS for gid in GROUP_IDS}

    def groups_of(pid: str, n: int) -> tuple[GroupData, ...]:
        """The groups sent in round ``n``: a group's versions take turns."""
        listed = [
            pools[pid, gid][n % len(pools[pid, gid])]
            for gid in draw(st.lists(st.sampled_from(GROUP_IDS), min_size=1, unique=True))
        ]
        if listed and draw(st.integers(0, 7)) == 4:  # now and then a group listed twice
            listed.append(pools[pid, listed[0].external_id or ""][-1])
        return tuple(listed)

    plan: list[Round] = []
    for n in range(draw(st.integers(2, 4))):
        sent_before = (
            [(i.program.external_id or "", g.external_id or "") for i in plan[-1].upserts for g in i.groups]
            if plan
            else []
        )
        sent_before = sent_before or [("P-1", "G-1")]
        sent = draw(st.lists(st.sampled_from(PROGRAM_IDS), min_size=1, max_size=3, unique=True))
        upserts = [
            ProgramItem(
                dataclasses.replace(draw(st.sampled_from(versions[pid])), external_id=pid),
                groups_of(pid, n),
            )
            for pid in sent
        ]
        archives = draw(st.lists(st.sampled_from([p for p in PROGRAM_IDS if p not in sent] or ["P-9"]), unique=True))
        # seats are taken in groups sent in the round before
        seats = [(pid, gid, draw(st.integers(1, 3))) for pid, gid in draw(st.lists(st.sampled_from(sent_before)))]
        certify = draw(st.lists(st.sampled_from(PROGRAM_IDS), max_size=2, unique=True))
        plan.append(Round(upserts, archives, seats, certify))
    return plan


Writer = Callable[[AsyncConnection, int, Sequence[ProgramItem], Sequence[str]], Awaitable[list[Any]]]


async def one_write_path(conn: AsyncConnection, provider: int, upserts: Sequence[ProgramItem], archives: Sequence[str]):
    upserted, archived = await catalog.write_items(conn, provider, [catalog.check_item(i) for i in upserts], archives)
    return [*upserted, *archived]


def outcome(result: Any, names: dict[int, str]) -> tuple[Any, ...]:
    problems = tuple(
        sorted(
            (str(p.code), p.key, tuple(str(x) for x in p.field or ()), tuple(sorted(p.params.items())))
            for p in result.problems
        )
    )
    status = "REJECTED" if str(result.outcome) == "FAILED" else str(result.outcome)
    return (status, names.get(result.program_id) if result.program_id else None, problems)


def modelled(plan: list[Round]) -> list[Any]:
    """The same trail as ``write_rounds``, from the reference model."""
    model = CatalogModel()
    trail = []
    for round_ in plan:
        for program, group, seats in round_.seats:
            model.take_seats(program, group, seats)
        for program in round_.certify:
            model.certify(program)
        results = [model.upsert(item.program, item.groups) for item in round_.upserts]
        results += [model.archive(external_id) for external_id in round_.archives]
        trail.append(([(r.outcome, r.program, r.problems) for r in results], model.rows()))
    return trail


async def snapshot(conn: AsyncConnection, provider: int) -> tuple[dict[str, Any], dict[int, str]]:
    programs = await conn.execute(
        text(
            "SELECT id, external_id, title, description, direction, min_age, max_age, municipality, normative_cost,"
            " hours, form, address, latitude, longitude, funding_kind, for_disabilities, archived, certified"
            " FROM programs WHERE provider_id = :p"
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


async def fresh_providers(engine: AsyncEngine, count: int) -> list[int]:
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE providers, programs, groups RESTART IDENTITY CASCADE"))
        return [
            int(
                (
                    await conn.execute(
                        text("INSERT INTO providers (name, inn, municipality) VALUES (:n, :i, '01') RETURNING id"),
                        {"n": f"Дом творчества № {n}", "i": inn_with_checksum(f"4701000{n:02d}")},
                    )
                ).scalar_one()
            )
            for n in range(1, count + 1)
        ]


def exactly(got: tuple[Any, ...], model: tuple[Any, ...]) -> bool:
    return got == model


def follows(url: str, paths: dict[str, tuple[Writer, Callable[..., bool]]], examples: int) -> None:
    """Every path, each on its own provider, ends every round as the model does."""
    loop = asyncio.new_event_loop()
    engine = make_engine(url, 2)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(plan=plans())
    def check(plan: list[Round]) -> None:
        async def run() -> None:
            expected = modelled(plan)
            providers = await fresh_providers(engine, len(paths))
            for provider, (name, (write, same_problems)) in zip(providers, paths.items(), strict=True):
                trail = await write_rounds(engine, write, provider, plan)
                for n, ((results, rows), (wanted, wanted_rows)) in enumerate(zip(trail, expected, strict=True)):
                    differ = {k: (rows.get(k), wanted_rows.get(k)) for k in rows.keys() | wanted_rows.keys()}
                    differ = {k: v for k, v in differ.items() if v[0] != v[1]}
                    assert not differ, f"{name}, round {n}: rows differ from the model's: {differ}"
                    for got, want in zip(results, wanted, strict=True):
                        assert got[:2] == want[:2], f"{name}, round {n}: {got} where the model has {want}"
                        assert same_problems(got[2], want[2]), f"{name}, round {n}: {got} where the model has {want}"

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


@pytest.mark.slow
async def test_the_one_write_path_follows_the_model(db, database_url):
    await asyncio.to_thread(follows, database_url, {"write_items": (one_write_path, exactly)}, 150)
