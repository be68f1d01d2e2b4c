"""Demo families: guardians and their children, with unique names, birth dates and СНИЛС."""

from __future__ import annotations

import random
from datetime import date, timedelta

from pdo_graph.demo.data import names, region
from pdo_graph.demo.specs import ChildSpec, Family
from pdo_graph.domain.identifiers import snils_with_checksum
from pdo_graph.domain.people import name_key


def feminine_surname(surname: str) -> str:
    """The feminine form of a Russian masculine surname (Иванов → Иванова, Троицкий → Троицкая)."""
    if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return surname + "а"
    if surname.endswith(("ский", "цкий")):
        return surname[:-2] + "ая"
    if surname.endswith(("ой", "ый")):
        return surname[:-2] + "ая"
    return surname  # Шевченко, Ковальчук, Мельник: the same for both


def patronymic(father_name: str, female: bool) -> str:
    """Patronymic from a father's first name (Илья → Ильич / Ильинична)."""
    male_form, female_form = names.PATRONYMICS[father_name]
    return female_form if female else male_form


def _years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (28 February for 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return date(day.year - years, 2, 28)


# --- families ----------------------------------------------------------------------------------


def _weighted_municipality(rng: random.Random) -> str:
    codes = [code for code, _ in region.MUNICIPALITIES]
    return rng.choices(codes, weights=region.MUNICIPALITY_WEIGHTS, k=1)[0]


def families(rng: random.Random, count: int, today: date) -> list[Family]:
    """`count` families, each with 1–3 children aged 5..17 on `today`.

    A guardian is the mother (about 60%) or the father; children carry the father's surname and a
    patronymic from his name. Child names with birth dates (normalised as the database does) and
    СНИЛС are unique across the whole output.
    """
    earliest = _years_before(today, 18) + timedelta(days=1)  # age 17 on `today`
    latest = _years_before(today, 5)  # age 5 on `today`
    span = (latest - earliest).days
    seen_names: set[tuple[str, date]] = set()
    seen_snils: set[str] = set()
    out: list[Family] = []
    width = max(3, len(str(count)))
    for i in range(1, count + 1):
        municipality = _weighted_municipality(rng)
        surname = rng.choice(names.SURNAMES)
        father = rng.choice(names.FATHER_NAMES)
        if rng.random() < 0.6:
            guardian = f"{feminine_surname(surname)} {rng.choice(names.MOTHER_NAMES)} {patronymic(rng.choice(names.GRANDFATHER_NAMES), True)}"
        else:
            guardian = f"{surname} {father} {patronymic(rng.choice(names.GRANDFATHER_NAMES), False)}"
        n_children = rng.choices((1, 2, 3), weights=(55, 35, 10), k=1)[0]
        children: list[ChildSpec] = []
        births: list[date] = []
        given: list[str] = []
        attempts = 0
        while len(children) < n_children and attempts < 50:
            attempts += 1
            female = rng.random() < 0.5
            first = rng.choice(names.GIRL_NAMES if female else names.BOY_NAMES)
            if first in given:
                continue
            birth = earliest + timedelta(days=rng.randint(0, span))
            if any(abs((birth - other).days) < 300 for other in births):
                continue  # siblings are at least ten months apart
            full_name = f"{feminine_surname(surname) if female else surname} {first} {patronymic(father, female)}"
            key = (name_key(full_name), birth)
            if key in seen_names:
                continue
            snils = _unique_snils(rng, seen_snils)
            seen_names.add(key)
            births.append(birth)
            given.append(first)
            children.append(ChildSpec(full_name=full_name, birth_date=birth, snils=snils, municipality=municipality))
        children.sort(key=lambda child: child.birth_date)
        out.append(
            Family(
                subject=f"guardian-{i:0{width}d}",
                guardian_name=guardian,
                children=children,
                municipality=municipality,
            )
        )
    return out


def _unique_snils(rng: random.Random, seen: set[str]) -> str:
    # Checksums are defined for numbers above 001-001-998; children's numbers are issued in the 1xx–2xx range.
    while True:
        snils = snils_with_checksum(f"{rng.randint(110_000_000, 219_999_999):09d}")
        if snils not in seen:
            seen.add(snils)
            return snils
