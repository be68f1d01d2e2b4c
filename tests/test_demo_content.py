"""Pure unit tests of the demo content generator (no database)."""

from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
import sys
from collections import Counter
from datetime import date

import pytest

from pdo_graph.demo.content import (
    DIRECTIONS,
    MUNICIPALITIES,
    MUNICIPALITY_CENTRES,
    DemoContent,
    ProgramSpec,
    ProviderSpec,
    families,
    feminine_surname,
    generate,
    patronymic,
    programs,
    providers,
)
from pdo_graph.demo.data.names import PATRONYMICS
from pdo_graph.domain.identifiers import is_valid_inn, is_valid_snils
from pdo_graph.domain.people import name_key

TODAYS = [
    date(2025, 10, 15),  # autumn: September groups are running
    date(2026, 2, 28),
    date(2024, 2, 29),  # leap day
    date(2025, 5, 20),  # late spring: September runs cannot still be going for long
    date(2025, 7, 1),  # summer: the coming September
    date(2025, 12, 31),  # year boundary
]
TODAY = TODAYS[0]
CODES = [code for code, _ in MUNICIPALITIES]


def _age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _months(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


@pytest.fixture(scope="module")
def content() -> DemoContent:
    return generate(20250901, TODAY, family_count=400, providers_per_municipality=8, program_count=300)


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_same_content() -> None:
    assert generate(7, TODAY) == generate(7, TODAY)


def test_different_seed_different_content() -> None:
    a, b = generate(7, TODAY), generate(8, TODAY)
    assert a.programs != b.programs
    assert a.families != b.families
    assert a.providers != b.providers


def test_functions_are_deterministic_for_an_rng_seed() -> None:
    assert families(random.Random(3), 50, TODAY) == families(random.Random(3), 50, TODAY)
    provs = providers(random.Random(3), 5)
    assert provs == providers(random.Random(3), 5)
    assert programs(random.Random(3), provs, 300, TODAY) == programs(random.Random(3), provs, 300, TODAY)


def test_parts_use_independent_streams() -> None:
    small = generate(11, TODAY, family_count=5)
    large = generate(11, TODAY, family_count=50)
    assert small.programs == large.programs
    assert small.providers == large.providers
    assert large.families[:5] == small.families  # a longer list extends the shorter one


@pytest.mark.slow
def test_independent_of_hash_randomisation() -> None:
    code = (
        "import hashlib, datetime; from pdo_graph.demo.content import generate; "
        "print(hashlib.sha256(repr(generate(5, datetime.date(2025, 10, 15))).encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    assert digests == {hashlib.sha256(repr(generate(5, date(2025, 10, 15))).encode()).hexdigest()}


# --- municipalities ----------------------------------------------------------------------------


def test_municipalities() -> None:
    assert CODES == ["01", "02", "03", "04", "05", "06"]
    assert len({name for _, name in MUNICIPALITIES}) == 6
    assert set(MUNICIPALITY_CENTRES) == set(CODES)


# --- families ----------------------------------------------------------------------------------


def test_family_subjects_unique_and_formatted(content: DemoContent) -> None:
    subjects = [f.subject for f in content.families]
    assert len(content.families) == 400
    assert len(set(subjects)) == len(subjects)
    assert subjects[0] == "guardian-001"
    assert all(re.fullmatch(r"guardian-\d{3,}", s) for s in subjects)


@pytest.mark.parametrize("today", TODAYS)
def test_children_ages_5_to_17(today: date) -> None:
    fams = families(random.Random(today.toordinal()), 300, today)
    ages = [_age_on(c.birth_date, today) for f in fams for c in f.children]
    assert ages
    assert min(ages) >= 5
    assert max(ages) <= 17
    assert {5, 17} <= set(ages)  # the whole range is used


def test_children_unique_names_births_and_snils(content: DemoContent) -> None:
    children = [c for f in content.families for c in f.children]
    assert len(children) > 400
    keys = [(name_key(c.full_name), c.birth_date) for c in children]
    assert len(set(keys)) == len(keys)
    snils = [c.snils for c in children]
    assert len(set(snils)) == len(snils)
    for value in snils:
        assert re.fullmatch(r"\d{11}", value)
        assert is_valid_snils(value)
        assert value[:9] > "001001998"


def test_family_shape(content: DemoContent) -> None:
    sizes = Counter(len(f.children) for f in content.families)
    assert set(sizes) <= {1, 2, 3}
    assert sizes[1] > sizes[2] > sizes[3] > 0
    assert set(f.municipality for f in content.families) == set(CODES)
    for fam in content.families:
        assert all(c.municipality == fam.municipality for c in fam.children)
        births = [c.birth_date for c in fam.children]
        assert births == sorted(births)
        assert len(set(births)) == len(births)


_MASCULINE_ENDINGS = ("ов", "ев", "ёв", "ин", "ын", "ский", "цкий", "ой", "ый")
_FEMININE_ENDINGS = ("ова", "ева", "ёва", "ина", "ына", "ская", "цкая", "ая")
# patronymic -> (father's name, female?)
_FATHER_OF = {form: (name, i == 1) for name, forms in PATRONYMICS.items() for i, form in enumerate(forms)}


def test_names_agree_in_gender(content: DemoContent) -> None:
    for fam in content.families:
        fathers = set()
        for full in [fam.guardian_name, *(c.full_name for c in fam.children)]:
            parts = full.split()
            assert len(parts) == 3, full
            surname, first, patr = parts
            assert all(p[0].isupper() for p in parts)
            assert patr in _FATHER_OF, full
            father, female = _FATHER_OF[patr]
            if female:
                assert not surname.endswith(_MASCULINE_ENDINGS), full
                assert first.endswith(("а", "я", "ь")), full
            else:
                assert not surname.endswith(_FEMININE_ENDINGS), full
            if full != fam.guardian_name:
                fathers.add(father)
        # siblings have one father; sons carry his surname and daughters its feminine form
        assert len(fathers) <= 1, fam
        sons = {c.full_name.split()[0] for c in fam.children if not _FATHER_OF[c.full_name.split()[2]][1]}
        daughters = {c.full_name.split()[0] for c in fam.children if _FATHER_OF[c.full_name.split()[2]][1]}
        assert len(sons) <= 1 and len(daughters) <= 1
        for son in sons:
            assert daughters <= {feminine_surname(son)}
        if fam.guardian_name.split()[2].endswith("ич"):  # the guardian is the father
            guardian_surname, guardian_first, _ = fam.guardian_name.split()
            assert fathers <= {guardian_first}
            assert sons <= {guardian_surname}


def test_patronymic_and_feminine_surname_rules() -> None:
    assert patronymic("Илья", female=False) == "Ильич"
    assert patronymic("Илья", female=True) == "Ильинична"
    assert patronymic("Лев", female=True) == "Львовна"
    assert patronymic("Никита", female=False) == "Никитич"
    assert patronymic("Сергей", female=True) == "Сергеевна"
    assert patronymic("Юрий", female=False) == "Юрьевич"
    assert feminine_surname("Иванов") == "Иванова"
    assert feminine_surname("Соловьёв") == "Соловьёва"
    assert feminine_surname("Ильин") == "Ильина"
    assert feminine_surname("Троицкий") == "Троицкая"
    assert feminine_surname("Вишневский") == "Вишневская"
    assert feminine_surname("Толстой") == "Толстая"
    assert feminine_surname("Шевченко") == "Шевченко"


# --- providers ---------------------------------------------------------------------------------


def test_providers(content: DemoContent) -> None:
    provs: list[ProviderSpec] = content.providers
    assert len(provs) == 8 * 6
    assert Counter(p.municipality for p in provs) == Counter({code: 8 for code in CODES})
    inns = [p.inn for p in provs]
    assert len(set(inns)) == len(inns)
    assert len({p.name for p in provs}) == len(provs)
    for p in provs:
        assert is_valid_inn(p.inn), p
        assert len(p.inn) == (12 if p.name.startswith("ИП ") else 10), p
        assert re.fullmatch(r"ул\. [^,]+, д\. \d+[АБВ]?", p.address), p.address
        assert p.directions and set(p.directions) <= set(DIRECTIONS)
        lat, lon = MUNICIPALITY_CENTRES[p.municipality]
        assert abs(p.latitude - lat) < 0.1 and abs(p.longitude - lon) < 0.1


def test_provider_mix() -> None:
    provs = providers(random.Random(1), 10)
    names = " ".join(p.name for p in provs)
    for marker in ("МБУ ДО", "ДЮСШ", "ИП ", "АНО"):
        assert marker in names
    # every municipality has a multi-profile provider first
    for code in CODES:
        first = next(p for p in provs if p.municipality == code)
        assert set(first.directions) == set(DIRECTIONS)


def test_many_providers_keep_unique_names_and_inns() -> None:
    provs = providers(random.Random(2), 40)
    assert len({p.name for p in provs}) == len(provs) == 240
    assert len({p.inn for p in provs}) == 240


# --- programs ----------------------------------------------------------------------------------


def test_program_count_and_directions(content: DemoContent) -> None:
    assert len(content.programs) >= 300
    counts = Counter(p.direction for p in content.programs)
    assert set(counts) == set(DIRECTIONS)
    assert min(counts.values()) >= 15


def test_small_counts_still_cover_directions() -> None:
    provs = providers(random.Random(4), 1)
    progs = programs(random.Random(4), provs, 1, TODAY)
    assert {p.direction for p in progs} == set(DIRECTIONS)
    assert programs(random.Random(4), provs, 0, TODAY) == []


def test_program_fields(content: DemoContent) -> None:
    provs = content.providers
    for prog in content.programs:
        prov = provs[prog.provider_index]
        assert prog.municipality == prov.municipality
        assert 0 < len(prog.title) <= 200
        assert prog.direction in DIRECTIONS
        assert 0 <= prog.min_age <= prog.max_age <= 18
        assert prog.max_age - prog.min_age >= 2
        assert 36 <= prog.hours <= 216
        assert prog.form in ("очная", "очно-заочная")
        assert prog.address
        lat, lon = MUNICIPALITY_CENTRES[prog.municipality]
        assert isinstance(prog.latitude, float) and isinstance(prog.longitude, float)
        assert abs(prog.latitude - lat) < 0.1 and abs(prog.longitude - lon) < 0.1
        assert prog.normative_cost is None or (prog.normative_cost > 0 and prog.normative_cost % 100 == 0)
        sentences = re.findall(r"[.!?](?:\s|$)", prog.description)
        assert 2 <= len(sentences) <= 4, prog.description
        assert 1 <= len(prog.groups) <= 4


def test_titles_unique_per_provider_and_varied(content: DemoContent) -> None:
    pairs = [(p.provider_index, p.title) for p in content.programs]
    assert len(set(pairs)) == len(pairs)
    titles = {p.title for p in content.programs}
    assert len(titles) > 150
    joined = " | ".join(titles).lower()
    for needle in ("для начинающих", "продвинутый уровень", "юные", "робототехник", "шахмат", "python"):
        assert needle in joined


def test_every_provider_has_programs(content: DemoContent) -> None:
    assert {p.provider_index for p in content.programs} == set(range(len(content.providers)))
    indexes = [p.provider_index for p in content.programs]
    assert indexes == sorted(indexes)


def test_programs_fit_provider_profile(content: DemoContent) -> None:
    # all programs of single-profile providers are in that profile
    for prog in content.programs:
        prov = content.providers[prog.provider_index]
        assert prog.direction in prov.directions


def test_certified_share(content: DemoContent) -> None:
    share = sum(p.certified for p in content.programs) / len(content.programs)
    assert 0.75 <= share <= 0.95
    assert any(p.normative_cost is None for p in content.programs)
    assert any(p.normative_cost is not None for p in content.programs)
    assert all(p.normative_cost is None for p in content.programs if not p.certified)


# --- groups ------------------------------------------------------------------------------------


@pytest.mark.parametrize("today", TODAYS)
def test_group_dates(today: date) -> None:
    provs = providers(random.Random(today.toordinal()), 4)
    progs: list[ProgramSpec] = programs(random.Random(today.toordinal()), provs, 300, today)
    next_month = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    september = date(today.year if today.month >= 6 else today.year - 1, 9, 1)
    starts: Counter[str] = Counter()
    for prog in progs:
        for g in prog.groups:
            assert g.starts_on < g.ends_on
            assert g.ends_on >= today
            assert 3 <= _months(g.starts_on, g.ends_on) <= 9
            if (g.starts_on.year, g.starts_on.month) == (september.year, 9):
                assert g.starts_on.day <= 15
                starts["september"] += 1
            else:
                assert (g.starts_on.year, g.starts_on.month) == (next_month.year, next_month.month)
                assert g.starts_on.day <= 10
                starts["next_month"] += 1
    assert starts["next_month"] > 0
    if today.month in (9, 10, 11, 12, 1, 2, 6, 7, 8):
        assert starts["september"] > 0


def test_running_groups_exist_in_autumn(content: DemoContent) -> None:
    groups = [g for p in content.programs for g in p.groups]
    assert any(g.starts_on <= TODAY <= g.ends_on for g in groups)
    assert any(g.starts_on > TODAY for g in groups)


def test_group_fields(content: DemoContent) -> None:
    groups = [g for p in content.programs for g in p.groups]
    for prog in content.programs:
        names = [g.name for g in prog.groups]
        assert len(set(names)) == len(names)
        for number, g in enumerate(prog.groups, start=1):
            assert g.name.startswith(f"Группа {number} (")
            assert re.fullmatch(r"Группа \d \((пн|вт|ср|чт|пт|сб|вс)(, (пн|вт|ср|чт|пт|сб|вс))* \d\d:\d\d\)", g.name)
            assert re.fullmatch(r"[а-я, ]+ \d\d:\d\d–\d\d:\d\d", g.schedule), g.schedule
    for g in groups:
        assert 8 <= g.capacity <= 25
        assert 300_000 <= g.price <= 4_000_000
        assert g.price % 10_000 == 0  # whole hundreds of roubles
    open_share = sum(g.enrollment_open for g in groups) / len(groups)
    full_share = sum(g.full for g in groups) / len(groups)
    assert 0.82 <= open_share <= 0.96
    assert 0.03 <= full_share <= 0.14
    assert len({g.price for g in groups}) > 50
