"""Messages of the analysts' view (merged into pdo_graph.domain.messages)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "analytics_measures_empty": ("Выберите хотя бы один показатель", "Choose at least one measure"),
    "analytics_repeated": ("Показатель или разрез указан дважды", "A measure or a dimension is given twice"),
    "analytics_too_many_dimensions": (
        "Можно выбрать не больше {max} разрезов",
        "At most {max} dimensions can be chosen",
    ),
    "analytics_not_applicable": (
        "Показатель {measure} нельзя разложить по разрезу {dimension}",
        "The measure {measure} cannot be broken down by {dimension}",
    ),
    "analytics_span": (
        "Сводка охватывает не больше {max} месяцев",
        "A summary spans at most {max} months",
    ),
    "analytics_municipality_format": (
        "Код муниципалитета — две цифры",
        "A municipality code is two digits",
    ),
    "analytics_table_too_large": (
        "Таблица больше {max} строк: выберите меньше разрезов или сузьте фильтр",
        "The table has more than {max} rows: choose fewer dimensions or a narrower filter",
    ),
    "analytics_link_invalid": (
        "Ссылка на выгрузку неверна или устарела: получите новую в запросе analytics",
        "The export link is invalid or has expired: get a new one from the analytics query",
    ),
}
