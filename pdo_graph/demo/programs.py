"""Demo programs: themed titles and descriptions, ages, hours, places, and groups running 3–9 months
relative to ``today``, priced by the month."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from pdo_graph.db.tables import DIRECTIONS
from pdo_graph.demo.data import themes
from pdo_graph.demo.providers import near, street_address
from pdo_graph.demo.specs import GroupSpec, ProgramSpec, ProviderSpec
from pdo_graph.domain.catalog import AGES
from pdo_graph.domain.money import add_months, month_start, months_between

_THEMES_BY_DIRECTION: dict[str, list[themes.Theme]] = {
    d: [t for t in themes.THEMES if t.direction == d] for d in DIRECTIONS
}


def _schedule(rng: random.Random, hours: int) -> tuple[str, str]:
    """(days and start time for the group name, full schedule text)."""
    weekly = min(6, max(1, round(hours / 36)))  # academic hours a week over a school year
    options = [(s, weekly // s) for s in (1, 2, 3) if weekly % s == 0 and 1 <= weekly // s <= 2]
    if not options:  # 3 hours a week: three short sessions or one long one
        options = [(3, 1), (1, 3)]
    sessions, per_session = rng.choice(options)
    days = rng.choice(themes.WEEKDAY_SETS[sessions])
    start = rng.choice(themes.WEEKEND_STARTS if days[0] in ("сб", "вс") else themes.WEEKDAY_STARTS)
    minutes = 45 * per_session + 10 * (per_session - 1)  # academic hours with a break between them
    h, m = (int(x) for x in start.split(":"))
    end_total = h * 60 + m + minutes
    end = f"{end_total // 60:02d}:{end_total % 60:02d}"
    day_text = ", ".join(days)
    return f"{day_text} {start}", f"{day_text} {start}–{end}"


def _group_dates(rng: random.Random, today: date) -> tuple[date, date, int]:
    """(starts_on, ends_on, months): a run of 3–9 months that has not ended by `today`.

    About 60% of runs start in September of the current school year (in summer: the coming
    September); runs that cannot both have started in September and still be going start next month.
    """
    school_year = today.year if today.month >= 6 else today.year - 1
    if rng.random() < 0.6:
        start = date(school_year, 9, 1) + timedelta(days=rng.randint(0, 14))
        elapsed = months_between(start, today) if start <= today else 0
        lowest = max(3, elapsed + 1)
        if lowest <= 9:
            months = rng.randint(lowest, 9)
            return start, _last_day(start, months), months
    start = add_months(today, 1) + timedelta(days=rng.randint(0, 9))
    months = rng.randint(3, 9)
    return start, _last_day(start, months), months


def _last_day(start: date, months: int) -> date:
    """The last day of a run of ``months`` calendar months from ``start``'s month."""
    return add_months(start, months) - timedelta(days=1)


def _round_rub(rub: float) -> int:
    """Roubles rounded to 100 ₽, as kopecks."""
    return round(rub / 100) * 100 * 100


def _title(rng: random.Random, theme: themes.Theme) -> tuple[str, themes.Level]:
    if theme.special and rng.random() < 0.3:
        return rng.choice(theme.special), themes.PLAIN
    base = rng.choice(theme.titles)
    if not theme.levels:
        return base, themes.PLAIN
    level = rng.choices(themes.LEVELS, weights=[lv.weight for lv in themes.LEVELS], k=1)[0]
    return base + level.suffix, level


def _program(
    rng: random.Random,
    provider_index: int,
    provider: ProviderSpec,
    direction: str | None,
    used_titles: set[str],
    today: date,
) -> ProgramSpec:
    if direction is None:
        direction = rng.choice(provider.directions) if provider.directions else rng.choice(DIRECTIONS)
    pool = [t for t in _THEMES_BY_DIRECTION[direction] if not provider.themes or t.key in provider.themes]
    if not pool:
        pool = _THEMES_BY_DIRECTION[direction]
    theme = rng.choice(pool)

    title, level = _title(rng, theme)
    for _ in range(8):
        if title not in used_titles:
            break
        title, level = _title(rng, theme)
    if title in used_titles:  # the provider already runs all variants of this theme: a further module
        n = 2
        while f"{title}. Модуль {n}" in used_titles:
            n += 1
        title = f"{title}. Модуль {n}"
    used_titles.add(title)

    lo = theme.ages[0] + level.shift_min + rng.choice((-1, 0, 0, 1))
    hi = theme.ages[1] + level.shift_max + rng.choice((-1, 0, 0, 1))
    min_age = max(5, min(lo, 16))
    max_age = min(AGES[1], max(hi, min_age + 2))

    sentences = [rng.choice(theme.intro), *rng.sample(theme.body, k=rng.randint(1, min(2, len(theme.body))))]
    if level.sentence is not None and rng.random() < 0.8:
        sentences.append(level.sentence)
    elif rng.random() < 0.3:
        sentences.append(f"Программа рассчитана на детей {min_age}–{max_age} лет.")
    elif rng.random() < 0.6:
        sentences.append(rng.choice(themes.CLOSINGS[direction]))

    hours = rng.choice(theme.hours)
    form = "очно-заочная" if rng.random() < (0.25 if direction == "TOURISM_LOCAL_HISTORY" else 0.1) else "очная"
    if rng.random() < 0.7:
        address, latitude, longitude = provider.address, provider.latitude, provider.longitude
    else:  # classes at a school or a sports ground of the municipality
        address = street_address(rng)
        latitude, longitude = near(rng, provider.municipality)

    groups: list[GroupSpec] = []
    schedules: set[str] = set()
    for number in range(1, rng.choices((1, 2, 3, 4), weights=(40, 33, 17, 10), k=1)[0] + 1):
        starts_on, ends_on, months = _group_dates(rng, today)
        short, schedule = _schedule(rng, hours)
        for _ in range(6):
            if schedule not in schedules:
                break
            short, schedule = _schedule(rng, hours)
        schedules.add(schedule)
        monthly = rng.randint(*theme.monthly_rub)
        price = min(4_000_000, max(300_000, _round_rub(monthly * months)))
        capacity = min(25, max(8, rng.randint(*theme.capacity)))
        groups.append(
            GroupSpec(
                name=f"Группа {number} ({short})",
                starts_on=starts_on,
                ends_on=ends_on,
                schedule=schedule,
                capacity=capacity,
                price=price,
                enrollment_open=rng.random() < 0.9,
                full=rng.random() < 0.08,
            )
        )

    certified = rng.random() < 0.85
    normative_cost: int | None = None
    if certified and rng.random() < 0.7:
        top = max(g.price for g in groups)
        normative_cost = _round_rub(top / 100 * rng.uniform(0.85, 1.35))

    return ProgramSpec(
        provider_index=provider_index,
        title=title,
        description=" ".join(sentences),
        direction=direction,
        min_age=min_age,
        max_age=max_age,
        hours=hours,
        form=form,
        municipality=provider.municipality,
        address=address,
        latitude=latitude,
        longitude=longitude,
        normative_cost=normative_cost,
        certified=certified,
        groups=groups,
    )


def programs(rng: random.Random, providers: Sequence[ProviderSpec], count: int, today: date) -> list[ProgramSpec]:
    """At least `count` programs (exactly `count` when `count` >= 6 + len(providers)), ordered by provider.

    Every provider gets at least one program and every direction appears at least once (when
    `count` > 0); the rest go to providers in proportion to their breadth. Titles are unique per
    provider. Groups run 3–9 months relative to `today` and none has ended by then.
    """
    if count <= 0 or not providers:
        return []
    plan: list[tuple[int, str | None]] = []
    for direction in DIRECTIONS:
        capable = [i for i, p in enumerate(providers) if direction in p.directions] or list(range(len(providers)))
        plan.append((rng.choice(capable), direction))
    planned = {i for i, _ in plan}
    plan.extend((i, None) for i in range(len(providers)) if i not in planned)
    weights = [1.0 + 0.6 * len(p.directions) - (0.5 if p.themes else 0.0) for p in providers]
    while len(plan) < count:
        plan.append((rng.choices(range(len(providers)), weights=weights, k=1)[0], None))
    plan.sort(key=lambda item: item[0])  # stable: the direction-seeding entries stay first per provider

    used_titles: dict[int, set[str]] = {}
    return [
        _program(rng, index, providers[index], direction, used_titles.setdefault(index, set()), today)
        for index, direction in plan
    ]


COPAY_TITLE = "Шахматы с гроссмейстером"
COPAY_PRICE = 3_600_000  # 36 000 ₽ for nine months: more than any nominal of the demo (25 000 and 35 000 ₽)
COPAY_MONTHS = 9


def copay_program(provider_index: int, provider: ProviderSpec, today: date) -> ProgramSpec:
    """The README walk-through's program: its one group costs more than any demo certificate holds,
    so applying to it always leaves a co-pay. The group runs nine months from the first day of
    ``today``'s month, so an application made that month covers the whole run."""
    starts_on = month_start(today)
    group = GroupSpec(
        name="Группа 1 (сб 11:00)",
        starts_on=starts_on,
        ends_on=_last_day(starts_on, COPAY_MONTHS),
        schedule="сб 11:00–12:40",
        capacity=12,
        price=COPAY_PRICE,
        enrollment_open=True,
        full=False,
    )
    return ProgramSpec(
        provider_index=provider_index,
        title=COPAY_TITLE,
        description=(
            "Занятия ведёт международный гроссмейстер: разбор партий, дебютная подготовка, сеансы "
            "одновременной игры и выезды на турниры. Стоимость выше номинала сертификата, разницу "
            "оплачивает семья."
        ),
        direction="PHYSICAL_SPORTS",
        min_age=9,
        max_age=17,
        hours=72,
        form="очная",
        municipality=provider.municipality,
        address=provider.address,
        latitude=provider.latitude,
        longitude=provider.longitude,
        normative_cost=None,
        certified=True,
        groups=[group],
    )
