"""Demo providers: houses of creativity, sports and art schools, non-profits, companies and
individual entrepreneurs, with unique names and valid ИНН."""

from __future__ import annotations

import random
from collections.abc import Sequence

from pdo_graph.demo.data import names, organisations, region
from pdo_graph.demo.families import feminine_surname, patronymic
from pdo_graph.demo.specs import ProviderSpec
from pdo_graph.domain.identifiers import inn12_with_checksum, inn_with_checksum


def street_address(rng: random.Random) -> str:
    house = str(rng.randint(1, 120))
    if rng.random() < 0.08:
        house += rng.choice("АБВ")
    return f"ул. {rng.choice(names.STREETS)}, д. {house}"


def near(rng: random.Random, municipality: str) -> tuple[float, float]:
    """A point in the municipality, around its administrative centre."""
    lat, lon = region.MUNICIPALITY_CENTRES[municipality]
    return round(lat + rng.uniform(-0.035, 0.035), 6), round(lon + rng.uniform(-0.055, 0.055), 6)


def _organisation_inn(rng: random.Random, municipality: str, seen: set[str]) -> str:
    office = f"{int(municipality) + 2:02d}"  # tax office of the municipality
    while True:
        inn = inn_with_checksum(f"{region.TAX_REGION}{office}{rng.randint(0, 99_999):05d}")
        if inn not in seen:
            seen.add(inn)
            return inn


def _sole_trader_inn(rng: random.Random, municipality: str, seen: set[str]) -> str:
    """12-digit ИНН of an individual (an ИП has a personal ИНН, never a 10-digit one)."""
    office = f"{int(municipality) + 2:02d}"
    while True:
        inn = inn12_with_checksum(f"{region.TAX_REGION}{office}{rng.randint(0, 999_999):06d}")
        if inn not in seen:
            seen.add(inn)
            return inn


def _unique_name(rng: random.Random, candidates: Sequence[str], used: set[str]) -> str:
    free = [name for name in candidates if name not in used]
    if free:
        name = rng.choice(free)
    else:  # every name of the kind is taken: a numbered branch of one of them
        base = rng.choice(list(candidates))
        n = 2
        while True:
            name = f'{base[:-1]} № {n}"' if base.endswith('"') else f"{base} № {n}"
            if name not in used:
                break
            n += 1
    used.add(name)
    return name


def providers(rng: random.Random, per_municipality: int) -> list[ProviderSpec]:
    """`per_municipality` providers in each of the six municipalities (ordered by municipality).

    The first provider of each municipality is a multi-profile house of children's creativity
    (all six directions); the rest are sports schools, art schools, stations of young technicians,
    non-profits, companies and individual entrepreneurs. Names and ИНН are unique.
    """
    out: list[ProviderSpec] = []
    used_names: set[str] = set()
    used_inns: set[str] = set()
    kind_weights = [kind.weight for kind in organisations.PROVIDER_KINDS] + [organisations.SOLE_TRADER_WEIGHT]
    for code, _ in region.MUNICIPALITIES:
        activities_here: list[str] = []
        for slot in range(per_municipality):
            lat, lon = near(rng, code)
            address = street_address(rng)
            pick = -1 if slot == 0 else rng.choices(range(len(kind_weights)), weights=kind_weights, k=1)[0]
            if pick == len(organisations.PROVIDER_KINDS):
                fresh = [a for a in organisations.SOLE_TRADER_ACTIVITIES if a[0] not in activities_here]
                activity, direction, themes = rng.choice(fresh or organisations.SOLE_TRADER_ACTIVITIES)
                activities_here.append(activity)
                name = _unique_name(rng, [_sole_trader_name(rng, activity) for _ in range(5)], used_names)
                out.append(
                    ProviderSpec(
                        name=name,
                        inn=_sole_trader_inn(rng, code, used_inns),
                        municipality=code,
                        address=address,
                        latitude=lat,
                        longitude=lon,
                        directions=(direction,),
                        themes=themes,
                    )
                )
                continue
            kind = organisations.HOUSES_OF_CREATIVITY if pick == -1 else organisations.PROVIDER_KINDS[pick]
            out.append(
                ProviderSpec(
                    name=_unique_name(rng, kind.names, used_names),
                    inn=_organisation_inn(rng, code, used_inns),
                    municipality=code,
                    address=address,
                    latitude=lat,
                    longitude=lon,
                    directions=kind.directions,
                    themes=kind.themes,
                )
            )
    return out


def _sole_trader_name(rng: random.Random, activity: str) -> str:
    female = rng.random() < 0.7
    surname = rng.choice(names.SURNAMES)
    if female:
        surname = feminine_surname(surname)
        first = rng.choice(names.MOTHER_NAMES)
    else:
        first = rng.choice(names.FATHER_NAMES)
    middle = patronymic(rng.choice(names.GRANDFATHER_NAMES), female)
    return f"ИП {surname} {first[0]}. {middle[0]}. ({activity})"
