"""The kinds of providers of the demo region: names and profiles (data only)."""

from __future__ import annotations

from dataclasses import dataclass

from pdo_graph.db.tables import DIRECTIONS


@dataclass(frozen=True)
class ProviderKind:
    names: tuple[str, ...]
    directions: tuple[str, ...]
    themes: tuple[str, ...] = ()
    weight: float = 1.0  # how often this kind is picked for a municipality


HOUSES_OF_CREATIVITY = ProviderKind(
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
PROVIDER_KINDS: tuple[ProviderKind, ...] = (
    ProviderKind(
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
    ProviderKind(
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
    ProviderKind(
        names=(
            "Станция юных натуралистов",
            'МБУ ДО "Эколого-биологический центр"',
            'МБУ ДО "Станция юных натуралистов"',
            'МБУ ДО "Центр экологического образования"',
        ),
        directions=("NATURAL_SCIENCE", "TOURISM_LOCAL_HISTORY"),
        weight=0.8,
    ),
    ProviderKind(
        names=(
            *(f'МБУ ДО "Детская школа искусств № {n}"' for n in range(1, 9)),
            'МБУ ДО "Детская художественная школа"',
            'МБУ ДО "Детская музыкальная школа им. П. И. Чайковского"',
        ),
        directions=("ARTS",),
        weight=1.5,
    ),
    ProviderKind(
        names=(
            'МБУ ДО "Центр детского и юношеского туризма и экскурсий"',
            'МБУ ДО "Станция юных туристов"',
            'МБУ ДО "Центр туризма и краеведения"',
            'МАУ ДО "Центр детско-юношеского туризма "Азимут""',
        ),
        directions=("TOURISM_LOCAL_HISTORY", "PHYSICAL_SPORTS"),
        weight=0.8,
    ),
    ProviderKind(names=('АНО "Робошкола"', 'АНО ДО "Инженерная школа "Винтик""'), directions=("TECHNICAL",)),
    ProviderKind(
        names=('АНО "Центр развития "Эврика""', 'АНО ДО "Школа юных исследователей"'),
        directions=("NATURAL_SCIENCE", "SOCIAL_HUMANITARIAN"),
        weight=0.7,
    ),
    ProviderKind(
        names=('АНО ДО "Шахматный клуб "Ладья""', 'АНО "Шахматная школа "Гамбит""'),
        directions=("PHYSICAL_SPORTS",),
        themes=("chess",),
        weight=0.6,
    ),
    ProviderKind(
        names=('АНО "Языковой центр "Полиглот""', 'ООО "Лингвистический центр "Глобус""'),
        directions=("SOCIAL_HUMANITARIAN",),
        themes=("english", "languages", "speaking"),
        weight=0.7,
    ),
    ProviderKind(
        names=('АНО ДО "Медиашкола "Репортёр""', 'АНО "Центр социальных инициатив "Вместе""'),
        directions=("SOCIAL_HUMANITARIAN",),
        themes=("journalism", "volunteering", "leadership", "speaking", "psychology"),
        weight=0.5,
    ),
    ProviderKind(
        names=('ООО "Студия танца "Грация""', 'ООО "Творческая мастерская "Акварель""'),
        directions=("ARTS",),
        themes=("dance", "drawing", "crafts", "ceramics"),
        weight=0.6,
    ),
    ProviderKind(
        names=('ООО "Академия плавания "Дельфин""', 'ООО "Спортивный клуб "Самбист""'),
        directions=("PHYSICAL_SPORTS",),
        themes=("swimming", "sambo", "judo", "karate"),
        weight=0.5,
    ),
    ProviderKind(
        names=('ООО "Детский клуб "Умка""', 'ООО "Детский центр "Солнышко""'),
        directions=("SOCIAL_HUMANITARIAN", "ARTS", "TECHNICAL"),
        themes=("preschool", "english", "lego", "drawing", "finance"),
        weight=0.6,
    ),
)

# Individual entrepreneurs: (activity in the name, direction, themes).
SOLE_TRADER_ACTIVITIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
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
SOLE_TRADER_WEIGHT = 1.2
