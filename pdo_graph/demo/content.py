"""Deterministic, dependency-free generator of realistic Russian demo data for the navigator.

Everything is driven by a caller-supplied :class:`random.Random`, so the same seed always gives the
same output (no set iteration, no hashing, no clock). Dates are computed relative to a ``today``
argument. Money is in whole kopecks. The generator knows nothing about the database: a loader turns
these frozen specs into rows.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from pdo_graph.domain.identifiers import inn_with_checksum, snils_with_checksum
from pdo_graph.domain.people import name_key

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

DIRECTIONS: tuple[str, ...] = (
    "TECHNICAL",
    "NATURAL_SCIENCE",
    "PHYSICAL_SPORTS",
    "ARTS",
    "TOURISM_LOCAL_HISTORY",
    "SOCIAL_HUMANITARIAN",
)

# One (invented) region, six municipalities; the first is the regional centre.
MUNICIPALITIES: list[tuple[str, str]] = [
    ("01", "Городской округ Светлогорск"),
    ("02", "Городской округ Верхнеозёрск"),
    ("03", "Краснобережный муниципальный район"),
    ("04", "Городской округ Сосновоборск"),
    ("05", "Заречный муниципальный округ"),
    ("06", "Старосельский муниципальный район"),
]

# Administrative centre (latitude, longitude) of each municipality.
MUNICIPALITY_CENTRES: dict[str, tuple[float, float]] = {
    "01": (56.9012, 40.0518),
    "02": (57.3441, 39.1876),
    "03": (56.5527, 40.6034),
    "04": (57.0489, 41.3962),
    "05": (56.7035, 39.2958),
    "06": (57.2983, 40.5121),
}

# Share of the region's families and providers living in each municipality.
_MUNICIPALITY_WEIGHTS: tuple[float, ...] = (0.34, 0.19, 0.11, 0.14, 0.12, 0.10)

# First two digits of ИНН: the tax region code of the (invented) region.
_TAX_REGION = "47"


# --- specs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildSpec:
    full_name: str  # "Фамилия Имя Отчество"
    birth_date: date
    snils: str  # 11 digits with a valid checksum
    municipality: str  # two-digit municipality code


@dataclass(frozen=True)
class Family:
    subject: str  # token subject of the guardian, e.g. "guardian-001"
    guardian_name: str  # "Фамилия Имя Отчество"
    children: list[ChildSpec]
    municipality: str  # where the family lives (all its children share it)


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    inn: str  # 10 digits for organisations, 12 for an individual entrepreneur (ИП)
    municipality: str
    address: str  # "ул. Садовая, д. 14"
    latitude: float
    longitude: float
    directions: tuple[str, ...]  # the provider's profile: directions it runs programs in
    themes: tuple[str, ...] = ()  # narrower profile (theme keys); empty means any theme of `directions`


@dataclass(frozen=True)
class GroupSpec:
    name: str  # "Группа 1 (пн, ср 16:00)"
    starts_on: date
    ends_on: date
    schedule: str  # "пн, ср 16:00–17:40"
    capacity: int  # 8..25
    price: int  # kopecks for the whole run, 300_000..4_000_000, a multiple of 10_000 (100 ₽)
    enrollment_open: bool
    full: bool  # the loader should mark all seats taken


@dataclass(frozen=True)
class ProgramSpec:
    provider_index: int  # index into the providers list passed to `programs`
    title: str
    description: str
    direction: str  # one of DIRECTIONS
    min_age: int  # years, 0..18
    max_age: int
    hours: int  # 36..216
    form: str  # "очная" or "очно-заочная"
    municipality: str
    address: str
    latitude: float
    longitude: float
    normative_cost: int | None  # kopecks
    certified: bool
    groups: list[GroupSpec] = field(default_factory=list)


@dataclass(frozen=True)
class DemoContent:
    municipalities: list[tuple[str, str]]
    families: list[Family]
    providers: list[ProviderSpec]
    programs: list[ProgramSpec]


# --- names -------------------------------------------------------------------------------------

# Masculine surnames; the feminine form is derived by `feminine_surname`.
_SURNAMES: tuple[str, ...] = (
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
    "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
    "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв",
    "Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв", "Гусев", "Киселёв",
    "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов", "Медведев",
    "Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров", "Давыдов", "Беляев",
    "Герасимов", "Богданов", "Осипов", "Сидоров", "Матвеев", "Титов", "Марков", "Миронов",
    "Крылов", "Куликов", "Карпов", "Власов", "Мельников", "Денисов", "Гаврилов", "Тихонов",
    "Казаков", "Афанасьев", "Данилов", "Савельев", "Тимофеев", "Фомин", "Чернов", "Абрамов",
    "Мартынов", "Ефимов", "Федотов", "Щербаков", "Назаров", "Калинин", "Исаев", "Чернышёв",
    "Быков", "Маслов", "Родионов", "Коновалов", "Лазарев", "Воронин", "Климов", "Филатов",
    "Пономарёв", "Голубев", "Кудрявцев", "Прохоров", "Наумов", "Потапов", "Журавлёв", "Овчинников",
    "Трофимов", "Леонов", "Соболев", "Ермаков", "Колесников", "Гончаров", "Емельянов", "Никифоров",
    "Грачёв", "Котов", "Гришин", "Ефремов", "Архипов", "Громов", "Кириллов", "Малышев",
    "Панов", "Моисеев", "Румянцев", "Акимов", "Кондратьев", "Бирюков", "Горбунов", "Анисимов",
    "Ерёмин", "Тихомиров", "Галкин", "Лукьянов", "Михеев", "Скворцов", "Юдин", "Белоусов",
    "Нестеров", "Симонов", "Прокофьев", "Харитонов", "Князев", "Цветков", "Левин", "Митрофанов",
    "Воронов", "Аксёнов", "Мальцев", "Логинов", "Горшков", "Савин", "Краснов", "Майоров",
    "Демидов", "Елисеев", "Рыбаков", "Сафонов", "Плотников", "Хохлов", "Жданов", "Носов",
    "Вишневский", "Покровский", "Островский", "Троицкий", "Заболоцкий", "Рождественский",
    "Толстой", "Островой", "Белый",
    "Шевченко", "Бондаренко", "Ткаченко", "Ковальчук", "Мельник",
)  # fmt: skip

# Male first name -> (patronymic of a son, patronymic of a daughter).
_PATRONYMICS: dict[str, tuple[str, str]] = {
    "Александр": ("Александрович", "Александровна"),
    "Алексей": ("Алексеевич", "Алексеевна"),
    "Анатолий": ("Анатольевич", "Анатольевна"),
    "Андрей": ("Андреевич", "Андреевна"),
    "Антон": ("Антонович", "Антоновна"),
    "Артём": ("Артёмович", "Артёмовна"),
    "Борис": ("Борисович", "Борисовна"),
    "Вадим": ("Вадимович", "Вадимовна"),
    "Валерий": ("Валерьевич", "Валерьевна"),
    "Василий": ("Васильевич", "Васильевна"),
    "Виктор": ("Викторович", "Викторовна"),
    "Виталий": ("Витальевич", "Витальевна"),
    "Геннадий": ("Геннадьевич", "Геннадьевна"),
    "Владимир": ("Владимирович", "Владимировна"),
    "Владислав": ("Владиславович", "Владиславовна"),
    "Георгий": ("Георгиевич", "Георгиевна"),
    "Григорий": ("Григорьевич", "Григорьевна"),
    "Денис": ("Денисович", "Денисовна"),
    "Дмитрий": ("Дмитриевич", "Дмитриевна"),
    "Евгений": ("Евгеньевич", "Евгеньевна"),
    "Егор": ("Егорович", "Егоровна"),
    "Иван": ("Иванович", "Ивановна"),
    "Игорь": ("Игоревич", "Игоревна"),
    "Илья": ("Ильич", "Ильинична"),
    "Кирилл": ("Кириллович", "Кирилловна"),
    "Константин": ("Константинович", "Константиновна"),
    "Лев": ("Львович", "Львовна"),
    "Максим": ("Максимович", "Максимовна"),
    "Михаил": ("Михайлович", "Михайловна"),
    "Никита": ("Никитич", "Никитична"),
    "Николай": ("Николаевич", "Николаевна"),
    "Олег": ("Олегович", "Олеговна"),
    "Павел": ("Павлович", "Павловна"),
    "Пётр": ("Петрович", "Петровна"),
    "Роман": ("Романович", "Романовна"),
    "Руслан": ("Русланович", "Руслановна"),
    "Сергей": ("Сергеевич", "Сергеевна"),
    "Станислав": ("Станиславович", "Станиславовна"),
    "Степан": ("Степанович", "Степановна"),
    "Тимур": ("Тимурович", "Тимуровна"),
    "Фёдор": ("Фёдорович", "Фёдоровна"),
    "Юрий": ("Юрьевич", "Юрьевна"),
    "Ярослав": ("Ярославович", "Ярославовна"),
}

# Grandfathers' names (a parent's patronymic) skew older; fathers' names are those of men born 1975–1995.
_GRANDFATHER_NAMES: tuple[str, ...] = (
    "Александр", "Алексей", "Анатолий", "Андрей", "Борис", "Василий", "Виктор", "Виталий",
    "Владимир", "Геннадий", "Григорий", "Евгений", "Иван", "Игорь", "Михаил", "Николай",
    "Олег", "Павел", "Пётр", "Сергей", "Юрий", "Валерий", "Константин", "Фёдор",
)  # fmt: skip
_FATHER_NAMES: tuple[str, ...] = (
    "Александр", "Алексей", "Андрей", "Антон", "Артём", "Вадим", "Виталий", "Владимир",
    "Владислав", "Денис", "Дмитрий", "Евгений", "Егор", "Иван", "Игорь", "Илья", "Кирилл",
    "Константин", "Максим", "Михаил", "Никита", "Николай", "Олег", "Павел", "Роман", "Руслан",
    "Сергей", "Станислав", "Тимур", "Юрий",
)  # fmt: skip
_MOTHER_NAMES: tuple[str, ...] = (
    "Елена", "Ольга", "Наталья", "Татьяна", "Анна", "Екатерина", "Юлия", "Мария", "Ирина",
    "Светлана", "Анастасия", "Евгения", "Ксения", "Марина", "Надежда", "Алёна", "Виктория",
    "Дарья", "Кристина", "Людмила", "Оксана", "Валентина", "Галина", "Вера", "Любовь", "Яна",
)  # fmt: skip
_BOY_NAMES: tuple[str, ...] = (
    "Александр", "Артём", "Михаил", "Максим", "Матвей", "Иван", "Тимофей", "Лев", "Марк",
    "Дмитрий", "Кирилл", "Егор", "Даниил", "Никита", "Роман", "Фёдор", "Андрей", "Илья",
    "Алексей", "Степан", "Макар", "Ярослав", "Глеб", "Савелий", "Мирон", "Арсений", "Владимир",
    "Константин", "Николай", "Платон", "Георгий", "Захар", "Сергей", "Демид", "Семён", "Елисей",
)  # fmt: skip
_GIRL_NAMES: tuple[str, ...] = (
    "София", "Анна", "Мария", "Ева", "Виктория", "Алиса", "Полина", "Варвара", "Василиса",
    "Александра", "Елизавета", "Дарья", "Вероника", "Ксения", "Милана", "Арина", "Анастасия",
    "Екатерина", "Ульяна", "Кира", "Таисия", "Злата", "Алёна", "Есения", "Маргарита", "Валерия",
    "Мирослава", "Агата", "Олеся", "Кристина", "Серафима", "Диана",
)  # fmt: skip


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
    male_form, female_form = _PATRONYMICS[father_name]
    return female_form if female else male_form


# --- dates -------------------------------------------------------------------------------------


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return date(day.year - years, 2, 28)


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _age_on(birth: date, on: date) -> int:
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


# --- families ----------------------------------------------------------------------------------


def _weighted_municipality(rng: random.Random) -> str:
    codes = [code for code, _ in MUNICIPALITIES]
    return rng.choices(codes, weights=_MUNICIPALITY_WEIGHTS, k=1)[0]


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
        surname = rng.choice(_SURNAMES)
        father = rng.choice(_FATHER_NAMES)
        if rng.random() < 0.6:
            guardian = f"{feminine_surname(surname)} {rng.choice(_MOTHER_NAMES)} {patronymic(rng.choice(_GRANDFATHER_NAMES), True)}"
        else:
            guardian = f"{surname} {father} {patronymic(rng.choice(_GRANDFATHER_NAMES), False)}"
        n_children = rng.choices((1, 2, 3), weights=(55, 35, 10), k=1)[0]
        children: list[ChildSpec] = []
        births: list[date] = []
        given: list[str] = []
        attempts = 0
        while len(children) < n_children and attempts < 50:
            attempts += 1
            female = rng.random() < 0.5
            first = rng.choice(_GIRL_NAMES if female else _BOY_NAMES)
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


# --- providers ---------------------------------------------------------------------------------

_STREETS: tuple[str, ...] = (
    "Ленина", "Советская", "Мира", "Садовая", "Школьная", "Молодёжная", "Центральная", "Гагарина",
    "Пушкина", "Кирова", "Комсомольская", "Октябрьская", "Первомайская", "Лесная", "Набережная",
    "Строителей", "Спортивная", "Заводская", "Южная", "Северная", "Победы", "Чехова", "Лермонтова",
    "Горького", "Маяковского", "Пионерская", "Рабочая", "Юбилейная", "Зелёная", "Солнечная",
    "Калинина", "Свердлова", "Есенина", "Циолковского", "Королёва", "Новая", "Полевая", "Речная",
)  # fmt: skip


def _address(rng: random.Random) -> str:
    house = str(rng.randint(1, 120))
    if rng.random() < 0.08:
        house += rng.choice("АБВ")
    return f"ул. {rng.choice(_STREETS)}, д. {house}"


def _near(rng: random.Random, municipality: str) -> tuple[float, float]:
    lat, lon = MUNICIPALITY_CENTRES[municipality]
    return round(lat + rng.uniform(-0.035, 0.035), 6), round(lon + rng.uniform(-0.055, 0.055), 6)


@dataclass(frozen=True)
class _ProviderKind:
    names: tuple[str, ...]
    directions: tuple[str, ...]
    themes: tuple[str, ...] = ()
    weight: float = 1.0  # how often this kind is picked for a municipality


_HOUSES_OF_CREATIVITY = _ProviderKind(
    names=(
        'МБУ ДО "Центр детского творчества"',
        'МБУ ДО "Дом детского творчества"',
        'МАУ ДО "Дворец творчества детей и молодёжи"',
        'МБУ ДО "Центр внешкольной работы"',
        'МБУ ДО "Центр дополнительного образования"',
        'МБУ ДО "Дом детского творчества "Радуга""',
        'МБУ ДО "Центр детского творчества "Созвездие""',
        'МАУ ДО "Центр детского и юношеского творчества"',
        'МБУ ДО "Дом пионеров и школьников"',
    ),
    directions=DIRECTIONS,
)
_PROVIDER_KINDS: tuple[_ProviderKind, ...] = (
    _ProviderKind(
        names=(
            'ДЮСШ "Олимп"',
            'ДЮСШ "Атлант"',
            'ДЮСШ "Юность"',
            'СШ "Старт"',
            'ДЮСШ "Чемпион"',
            'СШ "Факел"',
            'ДЮСШ "Вымпел"',
            'СШОР "Триумф"',
            'ДЮСШ "Лидер"',
            'СШ "Сокол"',
            'ДЮСШ "Витязь"',
            'СШ "Импульс"',
        ),
        directions=("PHYSICAL_SPORTS",),
        weight=2.0,
    ),
    _ProviderKind(
        names=(
            "Станция юных техников",
            'МБУ ДО "Центр технического творчества"',
            'МБУ ДО "Станция юных техников"',
            'Детский технопарк "Кванториум"',
            'МАУ ДО "Центр детского (юношеского) технического творчества"',
        ),
        directions=("TECHNICAL", "NATURAL_SCIENCE"),
        weight=1.2,
    ),
    _ProviderKind(
        names=(
            "Станция юных натуралистов",
            'МБУ ДО "Эколого-биологический центр"',
            'МБУ ДО "Станция юных натуралистов"',
            'МБУ ДО "Центр экологического образования"',
        ),
        directions=("NATURAL_SCIENCE", "TOURISM_LOCAL_HISTORY"),
        weight=0.8,
    ),
    _ProviderKind(
        names=(
            *(f'МБУ ДО "Детская школа искусств № {n}"' for n in range(1, 9)),
            'МБУ ДО "Детская художественная школа"',
            'МБУ ДО "Детская музыкальная школа им. П. И. Чайковского"',
        ),
        directions=("ARTS",),
        weight=1.5,
    ),
    _ProviderKind(
        names=(
            'МБУ ДО "Центр детского и юношеского туризма и экскурсий"',
            'МБУ ДО "Станция юных туристов"',
            'МБУ ДО "Центр туризма и краеведения"',
            'МАУ ДО "Центр детско-юношеского туризма "Азимут""',
        ),
        directions=("TOURISM_LOCAL_HISTORY", "PHYSICAL_SPORTS"),
        weight=0.8,
    ),
    _ProviderKind(names=('АНО "Робошкола"', 'АНО ДО "Инженерная школа "Винтик""'), directions=("TECHNICAL",)),
    _ProviderKind(
        names=('АНО "Центр развития "Эврика""', 'АНО ДО "Школа юных исследователей"'),
        directions=("NATURAL_SCIENCE", "SOCIAL_HUMANITARIAN"),
        weight=0.7,
    ),
    _ProviderKind(
        names=('АНО ДО "Шахматный клуб "Ладья""', 'АНО "Шахматная школа "Гамбит""'),
        directions=("PHYSICAL_SPORTS",),
        themes=("chess",),
        weight=0.6,
    ),
    _ProviderKind(
        names=('АНО "Языковой центр "Полиглот""', 'ООО "Лингвистический центр "Глобус""'),
        directions=("SOCIAL_HUMANITARIAN",),
        themes=("english", "languages", "speaking"),
        weight=0.7,
    ),
    _ProviderKind(
        names=('АНО ДО "Медиашкола "Репортёр""', 'АНО "Центр социальных инициатив "Вместе""'),
        directions=("SOCIAL_HUMANITARIAN",),
        themes=("journalism", "volunteering", "leadership", "speaking", "psychology"),
        weight=0.5,
    ),
    _ProviderKind(
        names=('ООО "Студия танца "Грация""', 'ООО "Творческая мастерская "Акварель""'),
        directions=("ARTS",),
        themes=("dance", "drawing", "crafts", "ceramics"),
        weight=0.6,
    ),
    _ProviderKind(
        names=('ООО "Академия плавания "Дельфин""', 'ООО "Спортивный клуб "Самбист""'),
        directions=("PHYSICAL_SPORTS",),
        themes=("swimming", "sambo", "judo", "karate"),
        weight=0.5,
    ),
    _ProviderKind(
        names=('ООО "Детский клуб "Умка""', 'ООО "Детский центр "Солнышко""'),
        directions=("SOCIAL_HUMANITARIAN", "ARTS", "TECHNICAL"),
        themes=("preschool", "english", "lego", "drawing", "finance"),
        weight=0.6,
    ),
)

# Individual entrepreneurs: (activity in the name, direction, themes).
_SOLE_TRADER_ACTIVITIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("студия вокала", "ARTS", ("vocal",)),
    ("изостудия", "ARTS", ("drawing",)),
    ("гончарная мастерская", "ARTS", ("ceramics",)),
    ("школа гитары", "ARTS", ("guitar",)),
    ("танцевальная студия", "ARTS", ("dance",)),
    ("школа английского языка", "SOCIAL_HUMANITARIAN", ("english",)),
    ("центр подготовки к школе", "SOCIAL_HUMANITARIAN", ("preschool",)),
    ("клуб каратэ", "PHYSICAL_SPORTS", ("karate",)),
    ("шахматный клуб", "PHYSICAL_SPORTS", ("chess",)),
    ("студия робототехники", "TECHNICAL", ("robotics", "lego")),
    ("школа программирования", "TECHNICAL", ("python", "scratch")),
)
_SOLE_TRADER_WEIGHT = 1.2


def _organisation_inn(rng: random.Random, municipality: str, seen: set[str]) -> str:
    office = f"{int(municipality) + 2:02d}"  # tax office of the municipality
    while True:
        inn = inn_with_checksum(f"{_TAX_REGION}{office}{rng.randint(0, 99_999):05d}")
        if inn not in seen:
            seen.add(inn)
            return inn


def _inn12_check(digits: list[int], weights: tuple[int, ...]) -> int:
    return sum(d * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def _sole_trader_inn(rng: random.Random, municipality: str, seen: set[str]) -> str:
    """12-digit ИНН of an individual (an ИП has a personal ИНН, never a 10-digit one)."""
    office = f"{int(municipality) + 2:02d}"
    while True:
        d = [int(c) for c in f"{_TAX_REGION}{office}{rng.randint(0, 999_999):06d}"]
        d.append(_inn12_check(d, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)))
        d.append(_inn12_check(d, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)))
        inn = "".join(str(x) for x in d)
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
    kind_weights = [kind.weight for kind in _PROVIDER_KINDS] + [_SOLE_TRADER_WEIGHT]
    for code, _ in MUNICIPALITIES:
        activities_here: list[str] = []
        for slot in range(per_municipality):
            lat, lon = _near(rng, code)
            address = _address(rng)
            pick = -1 if slot == 0 else rng.choices(range(len(kind_weights)), weights=kind_weights, k=1)[0]
            if pick == len(_PROVIDER_KINDS):
                fresh = [a for a in _SOLE_TRADER_ACTIVITIES if a[0] not in activities_here]
                activity, direction, themes = rng.choice(fresh or _SOLE_TRADER_ACTIVITIES)
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
            kind = _HOUSES_OF_CREATIVITY if pick == -1 else _PROVIDER_KINDS[pick]
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
    surname = rng.choice(_SURNAMES)
    if female:
        surname = feminine_surname(surname)
        first = rng.choice(_MOTHER_NAMES)
    else:
        first = rng.choice(_FATHER_NAMES)
    middle = patronymic(rng.choice(_GRANDFATHER_NAMES), female)
    return f"ИП {surname} {first[0]}. {middle[0]}. ({activity})"


# --- program themes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Theme:
    key: str
    direction: str
    titles: tuple[str, ...]  # base titles; a level suffix may be appended
    special: tuple[str, ...]  # complete titles used as they are ("Юные робототехники")
    ages: tuple[int, int]
    hours: tuple[int, ...]
    capacity: tuple[int, int]
    monthly_rub: tuple[int, int]  # price of a month of classes, roubles
    intro: tuple[str, ...]
    body: tuple[str, ...]
    levels: bool = True  # whether "для начинающих" / "продвинутый уровень" variants make sense


@dataclass(frozen=True)
class _Level:
    suffix: str
    shift_min: int
    shift_max: int
    sentence: str | None
    weight: float


_PLAIN = _Level("", 0, 0, None, 4.0)
_LEVELS: tuple[_Level, ...] = (
    _PLAIN,
    _Level(" для начинающих", -1, -1, "Программа подходит детям без специальной подготовки.", 2.0),
    _Level(": продвинутый уровень", 2, 2, "Программа рассчитана на тех, кто уже освоил базовый уровень.", 1.5),
    _Level(" (базовый уровень)", 0, 0, None, 1.0),
    _Level(" (стартовый уровень)", -1, -1, "Стартовый уровень: знакомство с направлением и первые результаты.", 1.0),
)

_THEMES: tuple[_Theme, ...] = (
    # --- техническая ---
    _Theme(
        "robotics", "TECHNICAL",
        ("Робототехника", "Образовательная робототехника", "Робототехника на LEGO Education"),
        ("Юные робототехники", "Роботы вокруг нас", "Спортивная робототехника"),
        (7, 12), (72, 144), (8, 12), (2500, 4200),
        (
            "На занятиях ребята собирают и программируют роботов из образовательных конструкторов.",
            "Программа знакомит детей с основами конструирования и программирования роботов.",
        ),
        (
            "Учащиеся изучают датчики, моторы и простые алгоритмы управления, учатся работать в команде.",
            "Каждый модуль завершается мини-соревнованием: гонки по линии, сумо роботов, прохождение лабиринта.",
            "Дети осваивают визуальную среду программирования и переходят к самостоятельным проектам.",
        ),
    ),
    _Theme(
        "python", "TECHNICAL",
        ("Программирование на Python", "Python для школьников", "Основы программирования на Python"),
        ("Юные программисты", "Разработка игр на Python", "Олимпиадное программирование"),
        (11, 17), (72, 108, 144), (8, 14), (2800, 4400),
        (
            "Курс знакомит школьников с языком Python — одним из самых востребованных языков программирования.",
            "Программа учит думать как программист: разбивать задачу на шаги и записывать решение в виде кода.",
        ),
        (
            "Ребята изучают переменные, условия, циклы и функции, пишут небольшие игры и консольные утилиты.",
            "Отдельный модуль посвящён работе с файлами, библиотеками и основам анализа данных.",
            "В конце курса каждый участник защищает собственный проект.",
        ),
    ),
    _Theme(
        "modeling3d", "TECHNICAL",
        ("3D-моделирование", "3D-моделирование и прототипирование", "Трёхмерное моделирование в Blender"),
        ("Юные 3D-дизайнеры", "3D-печать: от идеи до модели"),
        (10, 16), (72, 108), (8, 12), (2500, 4000),
        (
            "Учащиеся осваивают создание трёхмерных моделей на компьютере и их печать на 3D-принтере.",
            "Программа посвящена компьютерному моделированию и прототипированию изделий.",
        ),
        (
            "Ребята изучают интерфейс редактора, работу с примитивами, сплайнами и модификаторами.",
            "Готовые модели печатаются на 3D-принтере и используются в проектах других объединений.",
            "Занятия развивают пространственное мышление и знакомят с профессиями инженера и дизайнера.",
        ),
    ),
    _Theme(
        "aviamodel", "TECHNICAL",
        ("Авиамоделирование", "Авиамодельный кружок", "Авиамоделирование: кордовые и свободнолетающие модели"),
        ("Юные авиамоделисты", "Авиамодельная мастерская"),
        (9, 15), (108, 144, 216), (8, 12), (1500, 3000),
        (
            "Кружок знакомит ребят с историей авиации и основами аэродинамики.",
            "На занятиях дети своими руками строят летающие модели самолётов и планеров.",
        ),
        (
            "Учащиеся работают с чертежами, деревом, бальсой и композитными материалами, осваивают ручной инструмент.",
            "Готовые модели испытываются на запусках, а лучшие участники выступают на соревнованиях по авиамодельному спорту.",
        ),
    ),
    _Theme(
        "drones", "TECHNICAL",
        ("Беспилотные авиационные системы", "Программирование квадрокоптеров", "Основы пилотирования БПЛА"),
        ("Юные операторы беспилотников", "Мир дронов"),
        (10, 17), (72, 108), (8, 12), (2500, 4400),
        (
            "Программа посвящена устройству, сборке и пилотированию беспилотных летательных аппаратов.",
            "Ребята узнают, как устроен квадрокоптер и где сегодня применяются беспилотники.",
        ),
        (
            "Сначала учащиеся тренируются на симуляторе, затем переходят к полётам на учебных квадрокоптерах в зале.",
            "Отдельный модуль посвящён программированию автономного полёта и аэрофотосъёмке.",
        ),
    ),
    _Theme(
        "scratch", "TECHNICAL",
        ("Программирование в Scratch", "Scratch: создаём игры и мультфильмы", "Первые шаги в программировании"),
        ("Юные разработчики игр", "Алгоритмика для младших школьников"),
        (7, 11), (36, 72), (8, 12), (2000, 3500),
        (
            "Курс знакомит младших школьников с программированием через создание игр и анимаций.",
            "В визуальной среде Scratch дети собирают программы из блоков, как из конструктора.",
        ),
        (
            "Ребята учатся составлять алгоритмы, использовать циклы, условия и переменные.",
            "За время обучения каждый создаёт несколько собственных игр и интерактивных историй.",
        ),
    ),
    _Theme(
        "electronics", "TECHNICAL",
        ("Радиоэлектроника", "Электроника и Arduino", "Основы схемотехники"),
        ("Юные радиотехники", "Умный дом своими руками"),
        (11, 17), (72, 144), (8, 12), (2200, 4000),
        (
            "Программа знакомит с основами электротехники и программирования микроконтроллеров.",
            "Учащиеся собирают электронные схемы и программируют платформу Arduino.",
        ),
        (
            "Ребята учатся читать схемы, паять, работать с датчиками, светодиодами и моторами.",
            "Итогом курса становится собственное устройство: метеостанция, система полива или охранная сигнализация.",
        ),
    ),
    _Theme(
        "shipmodel", "TECHNICAL",
        ("Судомоделирование", "Судомодельный кружок"),
        ("Юные судомоделисты", "Морская мастерская"),
        (9, 15), (108, 144), (8, 12), (1500, 3000),
        (
            "Кружок посвящён постройке моделей кораблей и судов.",
            "Ребята знакомятся с историей флота и устройством современных судов.",
        ),
        (
            "Учащиеся строят модели по чертежам, осваивают работу с деревом, пластиком и ручным инструментом.",
            "Готовые модели испытываются в бассейне и на открытой воде, лучшие участвуют в соревнованиях.",
        ),
    ),
    _Theme(
        "lego", "TECHNICAL",
        ("Лего-конструирование", "Начальное техническое моделирование", "Техническое конструирование"),
        ("Юные конструкторы", "Мастерская изобретателей"),
        (5, 9), (36, 72), (8, 12), (1800, 3200),
        (
            "Занятия для дошкольников и младших школьников, которые любят собирать и изобретать.",
            "Программа развивает инженерное мышление через конструирование моделей.",
        ),
        (
            "Дети собирают модели машин, зданий и механизмов, знакомятся с рычагами, шестерёнками и передачами.",
            "На каждом занятии ребята придумывают и рассказывают историю о своей модели.",
        ),
    ),
    _Theme(
        "graphics", "TECHNICAL",
        ("Компьютерная графика и дизайн", "Цифровой дизайн", "Компьютерная графика"),
        ("Юные веб-дизайнеры", "Дизайн-студия"),
        (11, 17), (72, 108), (8, 12), (2200, 3800),
        (
            "Курс знакомит с растровой и векторной графикой и основами дизайна.",
            "Программа для тех, кто хочет научиться создавать красивые и понятные изображения на компьютере.",
        ),
        (
            "Ребята создают логотипы, открытки, плакаты и макеты сайтов в графических редакторах.",
            "Изучаются основы композиции, цвета и типографики.",
        ),
    ),
    # --- естественнонаучная ---
    _Theme(
        "ecology", "NATURAL_SCIENCE",
        ("Экология родного края", "Экологическая лаборатория", "Экология вокруг нас"),
        ("Юный эколог", "Юные экологи", "Зелёный патруль"),
        (8, 13), (72, 108), (10, 20), (1000, 2500),
        (
            "Программа учит видеть и беречь природу родного края.",
            "Ребята знакомятся с экосистемами леса, луга и водоёма.",
        ),
        (
            "На занятиях проводятся наблюдения и простые исследования воды, воздуха и почвы.",
            "Учащиеся участвуют в экологических акциях, субботниках и конкурсах исследовательских работ.",
            "Летом занятия переходят на экологическую тропу и в полевые экскурсии.",
        ),
    ),
    _Theme(
        "chemistry", "NATURAL_SCIENCE",
        ("Химия вокруг нас", "Занимательная химия", "Химия в опытах"),
        ("Юные химики", "Химическая лаборатория"),
        (10, 15), (72, 108), (8, 14), (1800, 3500),
        (
            "Курс показывает, как химия связана с повседневной жизнью: кухней, медициной и природой.",
            "Программа знакомит с миром веществ и их превращений через эксперимент.",
        ),
        (
            "Ребята ставят безопасные опыты, выращивают кристаллы и изучают свойства веществ.",
            "Учащиеся осваивают правила работы в лаборатории и ведут лабораторный журнал.",
        ),
    ),
    _Theme(
        "astronomy", "NATURAL_SCIENCE",
        ("Астрономия", "Занимательная астрономия", "Астрономия и космонавтика"),
        ("Юные астрономы", "Тайны Вселенной", "Путешествие к звёздам"),
        (9, 15), (36, 72), (10, 18), (1500, 3000),
        (
            "Программа знакомит с устройством Солнечной системы, звёздами и галактиками.",
            "Курс для тех, кто любит смотреть на звёздное небо и хочет понять, как устроена Вселенная.",
        ),
        (
            "Ребята учатся ориентироваться по звёздному небу, работают с телескопом и картами звёздного неба.",
            "Отдельные занятия посвящены истории космонавтики и современным космическим исследованиям.",
        ),
    ),
    _Theme(
        "physics", "NATURAL_SCIENCE",
        ("Занимательная физика", "Физика в экспериментах", "Экспериментальная физика"),
        ("Юные физики", "Физика для любознательных"),
        (10, 15), (72, 108), (8, 14), (1800, 3500),
        (
            "Программа помогает понять физические явления через самостоятельные эксперименты.",
            "Курс знакомит с механикой, оптикой и электричеством на простых и наглядных опытах.",
        ),
        (
            "Ребята работают с цифровыми датчиками, собирают приборы и проверяют свои гипотезы.",
            "Лучшие исследовательские работы представляются на научно-практической конференции школьников.",
        ),
    ),
    _Theme(
        "biology", "NATURAL_SCIENCE",
        ("Мир живой природы", "Занимательная биология", "Биологическая лаборатория"),
        ("Юные натуралисты", "Юный натуралист"),
        (7, 12), (72, 144), (10, 16), (1000, 2500),
        (
            "Программа для детей, которым интересны растения и животные.",
            "Ребята открывают для себя разнообразие живой природы и учатся её изучать.",
        ),
        (
            "Учащиеся ухаживают за обитателями живого уголка и ведут дневник наблюдений.",
            "На занятиях используются микроскопы и цифровые лаборатории.",
        ),
    ),
    _Theme(
        "botany", "NATURAL_SCIENCE",
        ("Цветоводство и ландшафтный дизайн", "Зелёная лаборатория", "Основы растениеводства"),
        ("Юные цветоводы", "Юные агрономы"),
        (8, 14), (72, 108), (10, 16), (1000, 2200),
        (
            "Программа знакомит с выращиванием комнатных и садовых растений.",
            "Ребята узнают, как устроены растения и как правильно за ними ухаживать.",
        ),
        (
            "Учащиеся работают в теплице и на учебно-опытном участке, ставят опыты с семенами и удобрениями.",
            "Итогом года становится проект по озеленению школьного двора.",
        ),
    ),
    _Theme(
        "geology", "NATURAL_SCIENCE",
        ("Геология", "Минералогия", "Геология родного края"),
        ("Юные геологи", "Тайны камней"),
        (9, 15), (72, 108), (10, 16), (1000, 2500),
        (
            "Программа знакомит с минералами, горными породами и историей Земли.",
            "Ребята учатся определять минералы и читать геологическую карту родного края.",
        ),
        (
            "Занятия проходят в лаборатории и в полевых выходах к обнажениям пород и карьерам.",
            "Учащиеся собирают собственную коллекцию минералов и окаменелостей.",
        ),
    ),
    _Theme(
        "math", "NATURAL_SCIENCE",
        ("Занимательная математика", "Олимпиадная математика", "Математика для любознательных"),
        ("Юные математики", "Математическая шкатулка"),
        (7, 14), (36, 72), (8, 16), (1500, 3000),
        (
            "Курс развивает логическое мышление через нестандартные задачи и головоломки.",
            "Программа для детей, которые любят решать задачи и не боятся трудных вопросов.",
        ),
        (
            "Ребята разбирают олимпиадные задачи, играют в математические игры и турниры.",
            "Участники программы выступают на муниципальных и региональных олимпиадах.",
        ),
    ),
    _Theme(
        "medicine", "NATURAL_SCIENCE",
        ("Основы медицинских знаний", "Анатомия и физиология человека"),
        ("Юный медик", "Школа юного медика"),
        (12, 17), (72, 108), (10, 18), (1200, 2800),
        (
            "Программа знакомит с устройством организма человека и основами здорового образа жизни.",
            "Курс для старшеклассников, которые задумываются о медицинской профессии.",
        ),
        (
            "Ребята осваивают приёмы первой помощи на тренажёрах и манекенах.",
            "Часть занятий проводят практикующие врачи и фельдшеры скорой помощи.",
        ),
    ),
    # --- физкультурно-спортивная ---
    _Theme(
        "chess", "PHYSICAL_SPORTS",
        ("Шахматы", "Шахматная школа", "Шахматы и шашки"),
        ("Юные шахматисты", "Шахматная азбука", "Белая ладья"),
        (6, 14), (72, 144), (10, 20), (1200, 2800),
        (
            "Программа учит играть в шахматы от первых ходов до участия в турнирах.",
            "Шахматы развивают память, внимание и умение планировать свои действия.",
        ),
        (
            "Ребята изучают правила, дебюты, тактические приёмы и типовые эндшпили.",
            "Каждую четверть проходит внутренний турнир, лучшие участники выступают на соревнованиях.",
            "Учащиеся готовятся к выполнению нормативов спортивных разрядов.",
        ),
    ),
    _Theme(
        "gymnastics", "PHYSICAL_SPORTS",
        ("Художественная гимнастика",),
        ("Юные гимнастки", "Грация"),
        (5, 12), (144, 216), (10, 18), (2000, 4000),
        (
            "Секция художественной гимнастики для девочек.",
            "Программа развивает гибкость, координацию, музыкальность и чувство ритма.",
        ),
        (
            "На тренировках девочки осваивают упражнения с предметами: скакалкой, обручем, мячом и лентой.",
            "Воспитанницы выступают на показательных выступлениях и соревнованиях.",
        ),
    ),
    _Theme(
        "football", "PHYSICAL_SPORTS",
        ("Футбол", "Мини-футбол"),
        ("Юные футболисты", "Футбольная академия"),
        (6, 14), (144, 216), (14, 25), (1500, 3500),
        (
            "Секция футбола для мальчиков и девочек.",
            "Программа знакомит с техникой и тактикой игры в футбол.",
        ),
        (
            "Тренировки включают общую физическую подготовку, технику ведения мяча, передачи и удары по воротам.",
            "Команды участвуют в первенстве муниципалитета и товарищеских матчах.",
        ),
    ),
    _Theme(
        "swimming", "PHYSICAL_SPORTS",
        ("Плавание", "Спортивное плавание", "Обучение плаванию"),
        ("Юные пловцы", "Дельфинёнок"),
        (6, 14), (72, 144), (8, 15), (2000, 4000),
        (
            "Программа обучает плаванию детей с любым уровнем подготовки.",
            "Занятия плаванием укрепляют здоровье и развивают выносливость.",
        ),
        (
            "Ребята осваивают кроль на груди и на спине, брасс, старты и повороты.",
            "Занятия проходят в бассейне под контролем тренера и медицинского работника.",
        ),
    ),
    _Theme(
        "sambo", "PHYSICAL_SPORTS",
        ("Самбо", "Борьба самбо"),
        ("Юные самбисты",),
        (7, 15), (144, 216), (12, 22), (1500, 3000),
        (
            "Секция самбо — отечественного вида борьбы, который учит самообороне и воспитывает характер.",
            "Программа знакомит с основами борьбы самбо и правилами соревнований.",
        ),
        (
            "Тренировки включают страховку, броски, удержания и болевые приёмы с учётом возраста.",
            "Воспитанники участвуют в турнирах и сдают нормы ГТО.",
        ),
    ),
    _Theme(
        "basketball", "PHYSICAL_SPORTS",
        ("Баскетбол", "Стритбол"),
        ("Юные баскетболисты",),
        (8, 16), (144, 216), (12, 22), (1500, 3000),
        (
            "Секция баскетбола для мальчиков и девочек.",
            "Программа развивает скорость, ловкость и умение играть в команде.",
        ),
        (
            "Ребята осваивают ведение, передачи и броски мяча, тактику нападения и защиты.",
            "Команды выступают в школьной баскетбольной лиге.",
        ),
    ),
    _Theme(
        "volleyball", "PHYSICAL_SPORTS",
        ("Волейбол", "Пляжный волейбол"),
        ("Юные волейболисты",),
        (9, 17), (144, 216), (12, 22), (1500, 3000),
        (
            "Секция волейбола для школьников.",
            "Программа знакомит с техникой и тактикой игры в волейбол.",
        ),
        (
            "Ребята отрабатывают подачу, приём, передачу и нападающий удар.",
            "Команды участвуют в муниципальных соревнованиях и турнирах выходного дня.",
        ),
    ),
    _Theme(
        "ski", "PHYSICAL_SPORTS",
        ("Лыжные гонки",),
        ("Юные лыжники", "Лыжня зовёт"),
        (7, 15), (144, 216), (12, 22), (1200, 2500),
        (
            "Секция лыжных гонок для детей, которые любят зиму и движение.",
            "Программа развивает выносливость и укрепляет здоровье.",
        ),
        (
            "Зимой тренировки проходят на лыжной трассе, летом — кроссовая подготовка и лыжероллеры.",
            "Воспитанники участвуют в соревнованиях и массовой гонке «Лыжня России».",
        ),
    ),
    _Theme(
        "judo", "PHYSICAL_SPORTS",
        ("Дзюдо",),
        ("Юные дзюдоисты",),
        (6, 14), (144, 216), (12, 22), (1500, 3000),
        (
            "Секция дзюдо для мальчиков и девочек.",
            "Программа знакомит с японским единоборством, его традициями и правилами.",
        ),
        (
            "Ребята учатся правильно падать, осваивают броски, удержания и захваты.",
            "Воспитанники сдают аттестацию на пояса и выступают на турнирах.",
        ),
    ),
    _Theme(
        "general_fitness", "PHYSICAL_SPORTS",
        ("Общая физическая подготовка", "ОФП с элементами гимнастики", "Спортивные игры"),
        ("Весёлые старты", "Здоровячок"),
        (5, 10), (72, 144), (12, 20), (1000, 2200),
        (
            "Программа помогает детям полюбить движение и укрепить здоровье.",
            "Занятия развивают силу, ловкость, быстроту и координацию.",
        ),
        (
            "Ребята выполняют упражнения на гимнастических снарядах, играют в подвижные и спортивные игры.",
            "Занятия проходят в игровой форме с учётом возраста и здоровья детей.",
        ),
    ),
    _Theme(
        "table_tennis", "PHYSICAL_SPORTS",
        ("Настольный теннис",),
        ("Юные теннисисты",),
        (7, 15), (72, 144), (10, 16), (1500, 3000),
        (
            "Секция настольного тенниса для школьников.",
            "Программа развивает реакцию, точность и концентрацию.",
        ),
        (
            "Ребята осваивают хватку ракетки, подачи, накаты и подрезки.",
            "Раз в месяц проводится внутренний турнир с рейтингом участников.",
        ),
    ),
    _Theme(
        "karate", "PHYSICAL_SPORTS",
        ("Каратэ", "Киокусинкай каратэ"),
        ("Юные каратисты",),
        (6, 14), (144, 216), (12, 22), (1800, 3500),
        (
            "Секция каратэ для мальчиков и девочек.",
            "Программа воспитывает дисциплину, уверенность в себе и уважение к сопернику.",
        ),
        (
            "Ребята изучают базовую технику, ката и правила спаррингов.",
            "Воспитанники сдают экзамены на пояса и выступают на соревнованиях.",
        ),
    ),
    # --- художественная ---
    _Theme(
        "vocal", "ARTS",
        ("Эстрадный вокал", "Вокал", "Академический вокал"),
        ("Вокальная студия «Звонкие голоса»", "Юные вокалисты"),
        (7, 15), (72, 144), (8, 15), (1800, 3800),
        (
            "Студия вокала для детей, которые любят петь.",
            "Программа учит правильно дышать, владеть голосом и держаться на сцене.",
        ),
        (
            "Ребята разучивают песни, работают с микрофоном и фонограммой.",
            "Воспитанники выступают на концертах, фестивалях и конкурсах.",
            "Занятия включают дыхательную гимнастику, распевки и основы сценического движения.",
        ),
    ),
    _Theme(
        "choir", "ARTS",
        ("Хоровое пение", "Хор"),
        ("Детский хор «Радуга»", "Поющие голоса"),
        (7, 14), (72, 144), (15, 25), (1000, 2200),
        (
            "Хоровая студия для детей с любым уровнем подготовки.",
            "Программа знакомит с хоровым исполнительством и народной и классической музыкой.",
        ),
        (
            "Дети учатся слушать друг друга, петь многоголосно и чисто интонировать.",
            "Хор выступает на городских праздниках и фестивалях детского творчества.",
        ),
    ),
    _Theme(
        "drawing", "ARTS",
        ("Рисование", "Изобразительное искусство", "Живопись и графика", "Академический рисунок"),
        ("Изостудия «Палитра»", "Юные художники", "Волшебная кисточка"),
        (6, 13), (72, 144), (8, 15), (1500, 3200),
        (
            "Изостудия для детей, которые любят рисовать.",
            "Программа знакомит с разными техниками рисования: акварелью, гуашью, пастелью и графикой.",
        ),
        (
            "Ребята рисуют натюрморты, пейзажи и портреты, изучают основы композиции и цветоведения.",
            "Работы воспитанников участвуют в выставках и конкурсах детского рисунка.",
        ),
    ),
    _Theme(
        "ceramics", "ARTS",
        ("Керамика", "Художественная керамика", "Лепка из глины"),
        ("Гончарная мастерская", "Юные керамисты"),
        (7, 14), (72, 108), (8, 12), (2000, 3800),
        (
            "Мастерская керамики знакомит с лепкой из глины и гончарным ремеслом.",
            "Программа развивает мелкую моторику, фантазию и художественный вкус.",
        ),
        (
            "Ребята лепят посуду, игрушки и панно, работают на гончарном круге и расписывают изделия.",
            "Готовые работы обжигаются в муфельной печи и забираются домой.",
        ),
    ),
    _Theme(
        "theatre", "ARTS",
        ("Театральная студия", "Актёрское мастерство", "Театр кукол"),
        ("Юные актёры", "Театральная студия «Маска»"),
        (7, 15), (72, 144), (10, 20), (1500, 3000),
        (
            "Театральная студия для детей, которые мечтают о сцене.",
            "Программа знакомит с основами актёрского мастерства, сценической речи и движения.",
        ),
        (
            "Ребята играют в театральные игры, ставят этюды и готовят спектакли.",
            "Каждый сезон студия показывает премьеру для родителей и друзей.",
        ),
    ),
    _Theme(
        "dance", "ARTS",
        ("Современная хореография", "Народный танец", "Классический танец", "Хореография"),
        ("Юные танцоры", "Ансамбль танца «Калинка»"),
        (5, 14), (72, 144, 216), (10, 20), (1800, 3800),
        (
            "Хореографическая студия для девочек и мальчиков.",
            "Программа развивает пластику, осанку, чувство ритма и музыкальность.",
        ),
        (
            "Ребята изучают элементы классического, народного и современного танца, готовят концертные номера.",
            "Коллектив выступает на городских праздниках и конкурсах хореографического искусства.",
        ),
    ),
    _Theme(
        "guitar", "ARTS",
        ("Гитара", "Игра на гитаре", "Эстрадная гитара"),
        ("Юные гитаристы", "Гитарный клуб"),
        (9, 17), (72, 108), (8, 12), (2000, 3800),
        (
            "Программа учит играть на шестиструнной гитаре с нуля.",
            "Клуб для подростков, которые хотят играть любимые песни.",
        ),
        (
            "Ребята осваивают аккорды, переборы и бой, учатся подбирать мелодии на слух.",
            "В конце года участники выступают на отчётном концерте.",
        ),
    ),
    _Theme(
        "crafts", "ARTS",
        ("Декоративно-прикладное творчество", "Бисероплетение", "Вышивка", "Лоскутное шитьё"),
        ("Мастерская чудес", "Умелые руки"),
        (7, 13), (72, 108), (8, 15), (1200, 2800),
        (
            "Программа знакомит с традиционными народными промыслами и рукоделием.",
            "Мастерская для детей, которые любят делать красивые вещи своими руками.",
        ),
        (
            "Ребята работают с бисером, тканью, нитками и природными материалами.",
            "Изделия воспитанников становятся подарками к праздникам и экспонатами выставок.",
        ),
    ),
    _Theme(
        "piano", "ARTS",
        ("Фортепиано", "Игра на фортепиано"),
        ("Юные пианисты",),
        (6, 15), (72, 108), (8, 10), (2500, 4400),
        (
            "Программа обучения игре на фортепиано для начинающих и продолжающих.",
            "Курс знакомит с нотной грамотой и основами игры на фортепиано.",
        ),
        (
            "Ребята разучивают пьесы, гаммы и этюды, играют в ансамбле.",
            "Занятия дополняются уроками сольфеджио и слушания музыки.",
        ),
    ),
    _Theme(
        "animation", "ARTS",
        ("Мультипликация", "Анимационная студия", "Стоп-моушн анимация"),
        ("Юные мультипликаторы",),
        (7, 13), (72, 108), (8, 12), (2000, 3500),
        (
            "Студия мультипликации, где дети сами создают мультфильмы.",
            "Программа знакомит с историей и техниками анимации.",
        ),
        (
            "Ребята придумывают сценарий, рисуют и лепят персонажей, снимают и озвучивают кадры.",
            "Готовые мультфильмы участвуют в фестивалях детского анимационного кино.",
        ),
    ),
    _Theme(
        "photo", "ARTS",
        ("Фотостудия", "Основы фотографии", "Фотография и видеосъёмка"),
        ("Юные фотографы",),
        (10, 17), (72, 108), (8, 12), (1800, 3500),
        (
            "Программа знакомит с основами фотографии и обработки снимков.",
            "Студия для подростков, которые хотят научиться видеть и снимать красивые кадры.",
        ),
        (
            "Ребята изучают композицию, свет, жанры фотографии и работу с камерой в ручном режиме.",
            "Работы учащихся публикуются в городских изданиях и участвуют в фотовыставках.",
        ),
    ),
    # --- туристско-краеведческая ---
    _Theme(
        "local_history", "TOURISM_LOCAL_HISTORY",
        ("Краеведение", "История родного края", "Краеведение и экскурсоведение"),
        ("Юные краеведы", "Моя малая родина"),
        (9, 15), (72, 108), (10, 20), (1000, 2200),
        (
            "Программа знакомит с историей, природой и культурой родного края.",
            "Ребята узнают, чем знаменита их малая родина и какие люди прославили её.",
        ),
        (
            "Занятия проходят в классе, в краеведческом музее и на экскурсиях по району.",
            "Учащиеся собирают материалы об истории своей улицы и школы, готовят исследовательские работы.",
        ),
    ),
    _Theme(
        "sport_tourism", "TOURISM_LOCAL_HISTORY",
        ("Спортивный туризм", "Пешеходный туризм", "Туризм и ориентирование"),
        ("Юные туристы", "Школа туриста"),
        (10, 17), (108, 144, 216), (10, 18), (1200, 2500),
        (
            "Программа готовит ребят к походам и соревнованиям по спортивному туризму.",
            "Секция спортивного туризма для школьников, которые любят природу и приключения.",
        ),
        (
            "Ребята учатся ставить палатку, разводить костёр, вязать узлы и преодолевать препятствия на дистанции.",
            "В течение года проводятся походы выходного дня, а летом — многодневный поход.",
        ),
    ),
    _Theme(
        "museum", "TOURISM_LOCAL_HISTORY",
        ("Музейное дело", "Школьный музей", "Основы музееведения"),
        ("Юные музееведы", "Музей в чемодане"),
        (10, 16), (72, 108), (8, 15), (1000, 2200),
        (
            "Программа знакомит с работой музея: хранением, изучением и показом экспонатов.",
            "Ребята становятся хранителями и экскурсоводами школьного музея.",
        ),
        (
            "Учащиеся описывают экспонаты, готовят выставки и проводят экскурсии для младших школьников.",
            "Отдельные занятия проходят в фондах и залах городского краеведческого музея.",
        ),
    ),
    _Theme(
        "orienteering", "TOURISM_LOCAL_HISTORY",
        ("Спортивное ориентирование",),
        ("Юные ориентировщики", "Азимут"),
        (8, 16), (108, 144), (10, 20), (1000, 2200),
        (
            "Секция спортивного ориентирования учит быстро и точно находить путь по карте и компасу.",
            "Программа сочетает бег, работу с картой и знакомство с родной природой.",
        ),
        (
            "Ребята осваивают условные знаки, азимут и выбор пути, тренируются на местности.",
            "Воспитанники участвуют в соревнованиях и массовом старте «Российский азимут».",
        ),
    ),
    _Theme(
        "guides", "TOURISM_LOCAL_HISTORY",
        ("Экскурсоведение", "Экскурсионное дело"),
        ("Юные экскурсоводы", "Школа юного экскурсовода"),
        (11, 17), (72, 108), (8, 15), (1000, 2200),
        (
            "Программа учит готовить и проводить экскурсии по родному городу.",
            "Ребята знакомятся с профессией экскурсовода и историей родного края.",
        ),
        (
            "Учащиеся разрабатывают собственные маршруты и проводят экскурсии для сверстников и гостей города.",
            "Занятия включают работу с архивами, картами и старыми фотографиями.",
        ),
    ),
    _Theme(
        "safety", "TOURISM_LOCAL_HISTORY",
        ("Школа безопасности", "Выживание в природе"),
        ("Юные спасатели",),
        (10, 17), (72, 144), (10, 18), (1000, 2200),
        (
            "Программа учит действовать в сложных ситуациях в природе и в городе.",
            "Курс готовит к соревнованиям «Школа безопасности» и полевым лагерям.",
        ),
        (
            "Ребята изучают первую помощь, ориентирование, преодоление водных преград и технику безопасности в походе.",
            "Занятия ведут инструкторы по туризму и специалисты аварийно-спасательной службы.",
        ),
    ),
    _Theme(
        "archaeology", "TOURISM_LOCAL_HISTORY",
        ("Археология", "Историческая реконструкция"),
        ("Юные археологи",),
        (11, 17), (72, 108), (8, 15), (1200, 2500),
        (
            "Программа знакомит с археологией и древней историей края.",
            "Ребята узнают, как учёные восстанавливают прошлое по находкам.",
        ),
        (
            "Учащиеся изучают методы раскопок, описывают находки и участвуют в полевых выездах.",
            "Отдельный модуль посвящён исторической реконструкции быта и ремёсел.",
        ),
    ),
    _Theme(
        "genealogy", "TOURISM_LOCAL_HISTORY",
        ("Родословие", "Генеалогия: история моей семьи"),
        ("Летопись семьи", "Юные историки"),
        (9, 15), (36, 72), (8, 15), (1000, 2000),
        (
            "Программа помогает узнать историю своей семьи и составить родословное древо.",
            "Ребята учатся работать с семейными документами, фотографиями и воспоминаниями.",
        ),
        (
            "Учащиеся знакомятся с архивами и готовят проект о своей семье.",
            "Лучшие работы публикуются в сборнике школьного музея.",
        ),
    ),
    _Theme(
        "water_tourism", "TOURISM_LOCAL_HISTORY",
        ("Водный туризм", "Сплав на байдарках"),
        ("Юные водники",),
        (12, 17), (108, 144), (8, 14), (1500, 3000),
        (
            "Программа готовит к водным походам на байдарках и катамаранах.",
            "Секция для подростков, которые хотят пройти реки родного края.",
        ),
        (
            "Ребята осваивают технику гребли, страховку и спасение на воде.",
            "Зимой занятия проходят в бассейне, летом — учебно-тренировочные сплавы.",
        ),
    ),
    # --- социально-гуманитарная ---
    _Theme(
        "english", "SOCIAL_HUMANITARIAN",
        ("Английский язык", "Английский язык для детей", "Разговорный английский"),
        ("Английский с удовольствием", "Юные полиглоты"),
        (6, 14), (72, 108, 144), (8, 12), (2000, 4200),
        (
            "Программа помогает детям заговорить по-английски легко и без страха.",
            "Курс английского языка для школьников с упором на разговорную речь.",
        ),
        (
            "Занятия строятся на играх, песнях, диалогах и проектах.",
            "Ребята расширяют словарный запас, учатся понимать речь на слух и рассказывать о себе.",
            "В программе используются аутентичные материалы и мультфильмы на английском языке.",
        ),
    ),
    _Theme(
        "journalism", "SOCIAL_HUMANITARIAN",
        ("Журналистика", "Школьная медиастудия", "Основы журналистики"),
        ("Юные журналисты", "Школьное телевидение"),
        (11, 17), (72, 108), (8, 15), (1200, 2800),
        (
            "Медиастудия для подростков, которые хотят писать, снимать и рассказывать истории.",
            "Программа знакомит с профессией журналиста и современными медиа.",
        ),
        (
            "Ребята готовят заметки, интервью и видеосюжеты для школьной газеты и сообщества в социальной сети.",
            "Учащиеся осваивают основы фото- и видеосъёмки, монтажа и вёрстки.",
        ),
    ),
    _Theme(
        "volunteering", "SOCIAL_HUMANITARIAN",
        ("Волонтёрство", "Школа волонтёра", "Добровольчество"),
        ("Юные волонтёры", "Добрые сердца"),
        (12, 17), (36, 72), (10, 25), (1000, 1800),
        (
            "Программа знакомит с добровольческой деятельностью и учит помогать людям.",
            "Школа волонтёра для подростков, которые хотят менять мир вокруг себя.",
        ),
        (
            "Ребята участвуют в социальных акциях, помогают пожилым людям и приютам для животных.",
            "Учащиеся учатся разрабатывать и проводить собственные социальные проекты.",
        ),
        levels=False,
    ),
    _Theme(
        "finance", "SOCIAL_HUMANITARIAN",
        ("Финансовая грамотность", "Основы финансовой грамотности"),
        ("Юные финансисты", "Азбука денег"),
        (9, 15), (36, 72), (8, 16), (1000, 2200),
        (
            "Программа учит разумно обращаться с деньгами.",
            "Курс знакомит школьников с семейным бюджетом, банками и основами предпринимательства.",
        ),
        (
            "Ребята решают практические задачи, играют в деловые и экономические игры.",
            "Отдельное занятие посвящено защите от мошенников в интернете.",
        ),
    ),
    _Theme(
        "preschool", "SOCIAL_HUMANITARIAN",
        ("Подготовка к школе", "Скоро в школу"),
        ("Школа будущего первоклассника", "Дошколёнок"),
        (5, 7), (72, 108), (8, 15), (2000, 4000),
        (
            "Программа готовит дошкольников к учёбе в первом классе.",
            "Занятия помогают ребёнку освоиться в школьной обстановке и привыкнуть к урокам.",
        ),
        (
            "Дети знакомятся с буквами и звуками, учатся считать, развивают речь и мелкую моторику.",
            "Занятия проходят в игровой форме по 25–30 минут с переменами.",
        ),
        levels=False,
    ),
    _Theme(
        "psychology", "SOCIAL_HUMANITARIAN",
        ("Психология общения", "Тренинг общения", "Основы психологии"),
        ("Я и мои друзья",),
        (10, 16), (36, 72), (8, 14), (1200, 2500),
        (
            "Программа помогает подросткам лучше понимать себя и других.",
            "Курс учит договариваться, справляться с волнением и решать конфликты.",
        ),
        (
            "Занятия проходят в форме тренингов, игр и обсуждений в небольших группах.",
            "Программу ведёт педагог-психолог.",
        ),
    ),
    _Theme(
        "speaking", "SOCIAL_HUMANITARIAN",
        ("Ораторское искусство", "Риторика", "Искусство публичного выступления"),
        ("Юные ораторы",),
        (10, 17), (36, 72), (8, 14), (1500, 3000),
        (
            "Программа учит говорить уверенно, ясно и убедительно.",
            "Курс для школьников, которые хотят не бояться выступать перед аудиторией.",
        ),
        (
            "Ребята работают над дикцией, голосом и структурой выступления, участвуют в дебатах.",
            "Итогом курса становится публичное выступление на школьной конференции.",
        ),
    ),
    _Theme(
        "languages", "SOCIAL_HUMANITARIAN",
        ("Немецкий язык", "Китайский язык", "Французский язык"),
        (),
        (8, 15), (72, 108), (8, 12), (2000, 4000),
        (
            "Программа знакомит с языком и культурой другой страны.",
            "Курс для школьников, которые хотят освоить второй иностранный язык.",
        ),
        (
            "Ребята учатся читать, писать и говорить на простые бытовые темы.",
            "Занятия включают песни, игры и знакомство с традициями страны изучаемого языка.",
        ),
    ),
    _Theme(
        "traffic", "SOCIAL_HUMANITARIAN",
        ("Юные инспекторы движения",),
        ("Безопасная дорога", "Отряд ЮИД «Светофор»"),
        (8, 13), (36, 72), (10, 20), (1000, 1800),
        (
            "Программа учит правилам дорожного движения и безопасному поведению на улице.",
            "Отряд юных инспекторов движения пропагандирует безопасность на дорогах среди сверстников.",
        ),
        (
            "Ребята изучают дорожные знаки, оказание первой помощи и фигурное вождение велосипеда.",
            "Отряд проводит акции для младших школьников и участвует в конкурсе «Безопасное колесо».",
        ),
        levels=False,
    ),
    _Theme(
        "leadership", "SOCIAL_HUMANITARIAN",
        ("Школа лидера", "Лидерство и проектная деятельность"),
        ("Юные лидеры",),
        (12, 17), (36, 72), (10, 20), (1200, 2500),
        (
            "Программа развивает лидерские качества и умение работать в команде.",
            "Курс для активных подростков, участников ученического самоуправления.",
        ),
        (
            "Ребята учатся ставить цели, планировать проекты и презентовать результаты.",
            "Участники программы организуют школьные мероприятия и защищают проекты на грантовых конкурсах.",
        ),
    ),
    _Theme(
        "patriotic", "SOCIAL_HUMANITARIAN",
        ("Военно-патриотическое воспитание", "Военно-патриотический клуб"),
        ("Юнармеец", "Юные патриоты"),
        (10, 17), (72, 144), (12, 25), (1000, 2000),
        (
            "Программа воспитывает уважение к истории страны и готовность к служению Отечеству.",
            "Военно-патриотический клуб для подростков.",
        ),
        (
            "Ребята изучают историю, строевую подготовку, основы первой помощи и туризма.",
            "Участники клуба несут Вахту памяти и участвуют в военно-спортивных играх.",
        ),
        levels=False,
    ),
)  # fmt: skip

_THEMES_BY_DIRECTION: dict[str, list[_Theme]] = {d: [t for t in _THEMES if t.direction == d] for d in DIRECTIONS}

_CLOSINGS: dict[str, tuple[str, ...]] = {
    "TECHNICAL": (
        "Всё необходимое оборудование предоставляется на занятиях.",
        "В конце года ребята представляют свои проекты на выставке технического творчества.",
    ),
    "NATURAL_SCIENCE": (
        "Лабораторное оборудование и материалы предоставляются.",
        "Лучшие работы представляются на конференции юных исследователей.",
    ),
    "PHYSICAL_SPORTS": (
        "Для зачисления нужна справка от педиатра о допуске к занятиям.",
        "Занятия ведёт тренер-преподаватель высшей категории.",
    ),
    "ARTS": (
        "Материалы для занятий предоставляются.",
        "В конце года проходит отчётный концерт или выставка работ.",
    ),
    "TOURISM_LOCAL_HISTORY": (
        "Снаряжение для походов и экскурсий предоставляется.",
        "Выезды проходят в сопровождении педагогов и инструктора.",
    ),
    "SOCIAL_HUMANITARIAN": (
        "Занятия проходят в небольших группах.",
        "Рабочие тетради и материалы входят в стоимость программы.",
    ),
}

_WEEKDAY_SETS: dict[int, tuple[tuple[str, ...], ...]] = {
    1: (("пн",), ("вт",), ("ср",), ("чт",), ("пт",), ("сб",)),
    2: (("пн", "ср"), ("вт", "чт"), ("ср", "пт"), ("пн", "чт"), ("вт", "пт"), ("сб", "вс")),
    3: (("пн", "ср", "пт"), ("вт", "чт", "сб"), ("пн", "вт", "чт")),
}
_WEEKDAY_STARTS = ("15:00", "15:30", "16:00", "16:30", "17:00", "17:30", "18:00", "18:30")
_WEEKEND_STARTS = ("10:00", "11:00", "12:00", "13:00")


def _schedule(rng: random.Random, hours: int) -> tuple[str, str]:
    """(days and start time for the group name, full schedule text)."""
    weekly = min(6, max(1, round(hours / 36)))  # academic hours a week over a school year
    options = [(s, weekly // s) for s in (1, 2, 3) if weekly % s == 0 and 1 <= weekly // s <= 2]
    if not options:  # 3 hours a week: three short sessions or one long one
        options = [(3, 1), (1, 3)]
    sessions, per_session = rng.choice(options)
    days = rng.choice(_WEEKDAY_SETS[sessions])
    start = rng.choice(_WEEKEND_STARTS if days[0] in ("сб", "вс") else _WEEKDAY_STARTS)
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
        elapsed = (today.year - start.year) * 12 + today.month - start.month + 1 if start <= today else 0
        lowest = max(3, elapsed + 1)
        if lowest <= 9:
            months = rng.randint(lowest, 9)
            return start, _month_end(*_add_months(start.year, start.month, months - 1)), months
    y, m = _add_months(today.year, today.month, 1)
    start = date(y, m, 1) + timedelta(days=rng.randint(0, 9))
    months = rng.randint(3, 9)
    return start, _month_end(*_add_months(start.year, start.month, months - 1)), months


def _round_rub(rub: float) -> int:
    """Roubles rounded to 100 ₽, as kopecks."""
    return round(rub / 100) * 100 * 100


def _title(rng: random.Random, theme: _Theme) -> tuple[str, _Level]:
    if theme.special and rng.random() < 0.3:
        return rng.choice(theme.special), _PLAIN
    base = rng.choice(theme.titles)
    if not theme.levels:
        return base, _PLAIN
    level = rng.choices(_LEVELS, weights=[lv.weight for lv in _LEVELS], k=1)[0]
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
    max_age = min(18, max(hi, min_age + 2))

    sentences = [rng.choice(theme.intro), *rng.sample(theme.body, k=rng.randint(1, min(2, len(theme.body))))]
    if level.sentence is not None and rng.random() < 0.8:
        sentences.append(level.sentence)
    elif rng.random() < 0.3:
        sentences.append(f"Программа рассчитана на детей {min_age}–{max_age} лет.")
    elif rng.random() < 0.6:
        sentences.append(rng.choice(_CLOSINGS[direction]))

    hours = rng.choice(theme.hours)
    form = "очно-заочная" if rng.random() < (0.25 if direction == "TOURISM_LOCAL_HISTORY" else 0.1) else "очная"
    if rng.random() < 0.7:
        address, latitude, longitude = provider.address, provider.latitude, provider.longitude
    else:  # classes at a school or a sports ground of the municipality
        address = _address(rng)
        latitude, longitude = _near(rng, provider.municipality)

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
