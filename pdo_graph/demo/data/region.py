"""The (invented) demo region: six municipalities, where they are, how its people are spread."""

from __future__ import annotations

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
MUNICIPALITY_WEIGHTS: tuple[float, ...] = (0.34, 0.19, 0.11, 0.14, 0.12, 0.10)

# First two digits of ИНН: the tax region code of the (invented) region.
TAX_REGION = "47"
