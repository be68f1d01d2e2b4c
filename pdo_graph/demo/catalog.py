"""Demo catalog: providers, a few hundred programs with groups, written through the catalog services.

The generator (pdo_graph.demo.content) is deterministic for a seed and ``today``. Programs get the
external ids ``demo-<n>`` and groups ``demo-<n>-<k>``, so later loaders (and a catalog sync demo)
can find them. Certification is the operator's act: it is set in bulk for the programs the
generator marks certified. Groups the generator marks full are left empty here, because seats are
taken only by enrollments (the ledger check compares them); ``full_group_ids`` lists them so the
family demo can fill them with real applications.
"""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.demo import content
from pdo_graph.domain import catalog

DEMO_SEED = 20261128
PROVIDERS_PER_MUNICIPALITY = 8
PROGRAMS = 320


def _specs(
    today: date, seed: int, per_municipality: int, program_count: int
) -> tuple[list[content.ProviderSpec], list[content.ProgramSpec]]:
    providers = content.providers(random.Random(f"{seed}:providers"), per_municipality)
    programs = content.programs(random.Random(f"{seed}:programs"), providers, program_count, today)
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
    provider_ids: list[int] = []
    for spec in providers:
        provider_ids.append(
            await catalog.insert_provider(
                conn, catalog.ProviderData(spec.name, spec.inn, spec.municipality, spec.address)
            )
        )
    certified: list[int] = []
    groups = 0
    for n, p in enumerate(programs, start=1):
        program_id = await catalog.create_program(
            conn,
            provider_ids[p.provider_index],
            catalog.ProgramData(
                title=p.title,
                description=p.description,
                direction=p.direction,
                min_age=p.min_age,
                max_age=p.max_age,
                municipality=p.municipality,
                normative_cost=p.normative_cost,
                hours=p.hours,
                form=p.form,
                address=p.address,
                latitude=p.latitude,
                longitude=p.longitude,
                external_id=f"demo-{n}",
            ),
        )
        if p.certified:
            certified.append(program_id)
        for k, g in enumerate(p.groups, start=1):
            await catalog.create_group(
                conn,
                program_id,
                catalog.GroupData(
                    name=g.name,
                    starts_on=g.starts_on,
                    ends_on=g.ends_on,
                    capacity=g.capacity,
                    price=g.price,
                    enrollment_open=g.enrollment_open,
                    schedule=g.schedule,
                    external_id=f"demo-{n}-{k}",
                ),
            )
            groups += 1
    await conn.execute(text("UPDATE programs SET certified = true WHERE id = ANY(:ids)"), {"ids": certified})
    return {
        "providers": len(provider_ids),
        "programs": len(programs),
        "programs_certified": len(certified),
        "groups": groups,
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
