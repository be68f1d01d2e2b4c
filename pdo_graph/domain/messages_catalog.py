"""User-facing messages of the catalog area: key -> (Russian, English)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # providers
    "catalog_inn_invalid": (
        "ИНН указан неверно (10 или 12 цифр с контрольными разрядами)",
        "Invalid INN (10 or 12 digits with check digits)",
    ),
    "catalog_provider_duplicate": (
        "Организация с таким ИНН уже зарегистрирована",
        "An organisation with this INN is already registered",
    ),
    "catalog_provider_not_own": (
        "Можно изменять только программы и группы своей организации",
        "You may only change the programs and groups of your own organisation",
    ),
    "catalog_text_invalid": (
        "Текст содержит недопустимые управляющие символы",
        "The text contains forbidden control characters",
    ),
    # programs
    "catalog_direction_unknown": ("Неизвестная направленность программы", "Unknown direction"),
    "catalog_age_range": ("Возраст должен быть от {min} до {max} лет", "Age must be between {min} and {max} years"),
    "catalog_age_order": (
        "Минимальный возраст не может быть больше максимального",
        "The minimum age cannot exceed the maximum age",
    ),
    "catalog_hours_range": (
        "Количество часов должно быть от {min} до {max}",
        "Hours must be between {min} and {max}",
    ),
    "catalog_bad_near": (
        "Поиск по расстоянию: нужна точка (широта -90..90, долгота -180..180) и радиус больше 0 и не более {max} км;"
        " сортировка DISTANCE_ASC возможна только с точкой",
        "Distance search needs a point (latitude -90..90, longitude -180..180) and a radius above 0 and at most"
        " {max} km; DISTANCE_ASC needs the point",
    ),
    "catalog_funding_kind_unknown": (
        "Вид программы должен быть одним из: CERTIFICATE (ПФ), MUNICIPAL (бесплатная), PAID (платная)",
        "The funding kind must be one of CERTIFICATE, MUNICIPAL, PAID",
    ),
    "catalog_certify_kind": (
        "Сертифицировать можно только программу персонифицированного финансирования (вид {kind} не оплачивается сертификатом)",
        "Only a certificate-funded program can be certified (kind {kind} is not paid from certificates)",
    ),
    "catalog_form_unknown": (
        "Форма обучения должна быть одной из: {forms}",
        "The form of study must be one of: {forms}",
    ),
    "catalog_coordinates": (
        "Координаты заданы неверно: широта от -90 до 90, долгота от -180 до 180, обе вместе",
        "Invalid coordinates: latitude -90..90 and longitude -180..180, both or neither",
    ),
    "catalog_normative_range": (
        "Нормативная стоимость должна быть от 0 до {max} копеек",
        "The normative cost must be from 0 to {max} kopecks",
    ),
    "catalog_external_id_length": (
        "Внешний идентификатор должен быть от 1 до {max} символов",
        "The external id must be 1 to {max} characters long",
    ),
    "catalog_program_external_duplicate": (
        "У организации уже есть программа с таким внешним идентификатором",
        "The organisation already has a program with this external id",
    ),
    # groups
    "catalog_capacity_range": (
        "Число мест должно быть от {min} до {max}",
        "Capacity must be between {min} and {max}",
    ),
    "catalog_capacity_below_taken": (
        "Нельзя сделать мест меньше, чем уже занято ({taken})",
        "Capacity cannot go below the seats already taken ({taken})",
    ),
    "catalog_price_range": (
        "Цена должна быть от 0 до {max} копеек",
        "The price must be from 0 to {max} kopecks",
    ),
    "catalog_date_range": (
        "Дата должна приходиться на годы с {min} по {max}",
        "The date must fall within the years {min} to {max}",
    ),
    "catalog_group_too_long": (
        "Группа может заниматься не дольше {max} месяцев",
        "A group may run for at most {max} months",
    ),
    "catalog_group_external_duplicate": (
        "У программы уже есть группа с таким внешним идентификатором",
        "The program already has a group with this external id",
    ),
    # search
    "catalog_bad_cursor": ("Некорректный курсор after", "Malformed cursor in after"),
    "catalog_certificate_filter_auth": (
        "Фильтр по сертификату доступен только после входа в систему",
        "The certificate filter needs authentication",
    ),
}
