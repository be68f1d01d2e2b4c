"""A small generated region (pdo_graph.demo.region), its aggregates refreshed."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.demo.region import Region, generate
from pdo_graph.domain.analytics.refresh import refresh

SMALL = Region(
    municipalities=5, certificates=700, providers=8, programs_per_provider=5, years=3, enrollment_rate=0.35, seed=0.3
)


async def make_region(db: AsyncEngine, region: Region = SMALL) -> Any:
    async with db.begin() as conn:
        await generate(conn, region, date.today())
    done = await refresh(db)
    assert done is not None
    return done


@pytest.fixture
async def region(db: AsyncEngine) -> Any:
    return await make_region(db)
