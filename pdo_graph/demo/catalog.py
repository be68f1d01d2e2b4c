"""Demo catalog: providers, a few hundred programs with groups, written through the catalog's one write path.

The generator (pdo_graph.demo.content) is deterministic for a seed and ``today``. Programs get the
external ids ``demo-<n>`` and groups ``demo-<n>-<k>``, so later loaders (and a catalog sync demo)
can find them. Certification is the operator's act: it is set in bulk for the programs the
generator marks certified. One more program, ``Шахматы с гроссмейстером`` of municipality 01, has a
group dearer than any nominal: the README walk-through's co-pay. Groups the generator marks full are left empty here, because seats are
taken only by enrollments (the ledger check compares them); ``full_group_ids`` lists them so the
family demo can fill them with real applications.
"""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.demo import content
from pdo_graph.demo.programs import copay_program
from pdo_graph.domain import catalog

DEMO_SEED = 20261128
PROVIDERS_PER_MUNICIPALITY = 8
PROGRAMS = 320


def _specs(
    today: date, seed: int, per_municipality: int, program_count: int
) -> tuple[list[content.ProviderSpec], list[content.ProgramSpec]]:
    providers = content.providers(random.Random(f"{seed}:providers"), per_municipality)
    programs = content.programs(random.Random(f"{seed}:programs"), providers, program_count, today)
    # the README's co-pay example, at the first provider of municipality 01 (a house of creativity)
    programs.append(copay_program(0, providers[0], today))
    return providers, programs


async def load_catalog_demo(
    conn: AsyncConnection,
    today: date,
    *,
    seed: int = DEMO_SEED,
    per_municipality: int = PROVIDERS_PER_MUNICIPALITY,
    program_count: int = PROGRAMS,
) -> dict[str, int]:
    """Insert the demo catalog (municipalities "01".."06" must exist); returns counts by kind."""
    providers, programs = _specs(today, seed, per_municipality, program_count)
    provider_ids = [
        await catalog.insert_provider(conn, catalog.ProviderData(p.name, p.inn, p.municipality, p.address))
        for p in providers
    ]
    items: dict[int, list[tuple[content.ProgramSpec, catalog.ProgramItem]]] = {}
    for n, p in enumerate(programs, start=1):
        groups = tuple(catalog.group_from(g, external_id=f"demo-{n}-{k}") for k, g in enumerate(p.groups, start=1))
        item = catalog.ProgramItem(catalog.program_from(p, external_id=f"demo-{n}"), groups)
        items.setdefault(provider_ids[p.provider_index], []).append((p, item))
    certified: list[int] = []
    for provider_id, written in items.items():
        checked = [catalog.check_item(item) for _, item in written]
        results, _ = await catalog.write_items(conn, provider_id, checked)
        for (spec, _), result in zip(written, results, strict=True):
            if result.outcome is not catalog.Outcome.CREATED or result.program_id is None:
                raise RuntimeError(f"demo program refused: {result.problems}")
            if spec.certified:
                certified.append(result.program_id)
    await conn.execute(text("UPDATE programs SET certified = true WHERE id = ANY(:ids)"), {"ids": certified})
    return {
        "providers": len(provider_ids),
        "programs": len(programs),
        "programs_certified": len(certified),
        "groups": sum(len(p.groups) for p in programs),
    }


async def full_group_ids(
    conn: AsyncConnection,
    today: date,
    *,
    seed: int = DEMO_SEED,
    per_municipality: int = PROVIDERS_PER_MUNICIPALITY,
    program_count: int = PROGRAMS,
) -> list[int]:
    """Ids of the groups the generator wants full (the same arguments as ``load_catalog_demo``)."""
    _, programs = _specs(today, seed, per_municipality, program_count)
    wanted = [
        f"demo-{n}-{k}" for n, p in enumerate(programs, start=1) for k, g in enumerate(p.groups, start=1) if g.full
    ]
    rows = await conn.execute(text("SELECT id FROM groups WHERE external_id = ANY(:ids) ORDER BY id"), {"ids": wanted})
    return [int(r.id) for r in rows]
