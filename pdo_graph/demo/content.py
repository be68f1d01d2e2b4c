"""Deterministic generator of realistic Russian demo data for the navigator.

Everything is driven by a caller-supplied :class:`random.Random`, so the same seed always gives the
same output (no set iteration, no hashing, no clock). Dates are computed relative to a ``today``
argument. Money is in whole kopecks. The generator knows nothing about the database: a loader turns
these frozen specs (specs.py) into rows. The parts: ``families``, ``providers``, ``programs``; their
data tables live in ``pdo_graph.demo.data``; the rules they share with the platform (name keys,
months, ИНН and СНИЛС checksums, age bounds) are the domain's.
"""

from __future__ import annotations

import random
from datetime import date

from pdo_graph.db.tables import DIRECTIONS
from pdo_graph.demo.data.region import MUNICIPALITIES, MUNICIPALITY_CENTRES
from pdo_graph.demo.families import families, feminine_surname, patronymic
from pdo_graph.demo.programs import programs
from pdo_graph.demo.providers import providers
from pdo_graph.demo.specs import ChildSpec, DemoContent, Family, GroupSpec, ProgramSpec, ProviderSpec

__all__ = [
    "DIRECTIONS",
    "MUNICIPALITIES",
    "MUNICIPALITY_CENTRES",
    "ChildSpec",
    "DemoContent",
    "Family",
    "GroupSpec",
    "ProgramSpec",
    "ProviderSpec",
    "families",
    "feminine_surname",
    "generate",
    "patronymic",
    "programs",
    "providers",
]


def generate(
    seed: int,
    today: date,
    *,
    family_count: int = 200,
    providers_per_municipality: int = 8,
    program_count: int = 300,
) -> DemoContent:
    """All demo content for one seed. Each part has its own random stream, so changing one count
    leaves the other parts unchanged."""
    provider_list = providers(random.Random(f"{seed}:providers"), providers_per_municipality)
    return DemoContent(
        municipalities=list(MUNICIPALITIES),
        families=families(random.Random(f"{seed}:families"), family_count, today),
        providers=provider_list,
        programs=programs(random.Random(f"{seed}:programs"), provider_list, program_count, today),
    )
