"""User-facing messages: Russian by default, English with ``Accept-Language: en``."""

from __future__ import annotations

from collections.abc import Mapping

MESSAGES: dict[str, tuple[str, str]] = {
    # generic
    "not_found": ("Объект не найден", "Object not found"),
    "forbidden": ("Недостаточно прав для этого действия", "You are not allowed to do this"),
    "provider_unknown": (
        "Организация из токена не зарегистрирована",
        "The organisation named in the token is not registered",
    ),
    "auth_required": ("Требуется вход в систему", "Authentication required"),
    "certificate_other_region": (
        "Сертификат выдан в регионе {region}: он в системе того региона",
        "The certificate was issued in region {region}: it is in that region's system",
    ),
    "live_not_found": (
        "Объект не найден или недоступен вам",
        "No such object, or it is not yours to see",
    ),
    "bad_id": ("Некорректный идентификатор", "Malformed identifier"),
    "too_many_ids": ("Не больше {max} идентификаторов за один запрос", "At most {max} ids in one request"),
    "text_length": (
        "Длина текста должна быть от {min} до {max} символов",
        "Text length must be between {min} and {max} characters",
    ),
    "text_control": (
        "Текст содержит недопустимый управляющий символ ({code})",
        "The text contains a control character ({code})",
    ),
    "text_surrogate": (
        "Текст содержит непарный суррогатный символ Unicode",
        "The text contains an unpaired Unicode surrogate",
    ),
    "text_too_long": ("Текст длиннее {max} символов", "The text is longer than {max} characters"),
    "municipality_unknown": ("Муниципалитет {code} не найден", "Municipality {code} not found"),
    "date_order": (
        "Дата окончания должна быть не раньше даты начала",
        "End date must not precede start date",
    ),
    "date_years": (
        "Дата должна приходиться на {min}–{max} годы",
        "The date must fall within the years {min}-{max}",
    ),
    # certificates
    "birth_date_future": ("Дата рождения не может быть в будущем", "Birth date cannot be in the future"),
    "child_too_old": ("Ребёнку уже исполнилось 18 лет", "The child is already 18 or older"),
    "snils_invalid": (
        "СНИЛС указан неверно (11 цифр с контрольным числом)",
        "Invalid SNILS (11 digits with checksum)",
    ),
    "child_duplicate": (
        "На этого ребёнка уже подано заявление (совпадают СНИЛС или ФИО и дата рождения)",
        "An application for this child already exists (same SNILS, or same name and birth date)",
    ),
    "application_decided": ("Заявление уже рассмотрено", "The application has already been decided"),
    "numbers_exhausted": (
        "Исчерпаны номера сертификатов муниципалитета",
        "Certificate numbers of the municipality are exhausted",
    ),
    "certificate_transition": (
        "Нельзя перевести сертификат из статуса {status} в {target}",
        "Cannot move the certificate from {status} to {target}",
    ),
    "certificate_has_contracts": (
        "У сертификата есть действующие заявки или договоры",
        "The certificate has running applications or contracts",
    ),
    # periods
    "period_overlap": (
        "Период пересекается с другим периодом муниципалитета",
        "The period overlaps another period of the municipality",
    ),
    "nominals_empty": ("Укажите номинал хотя бы для одной возрастной группы", "Give at least one nominal"),
    "nominal_ages": ("Возрастные группы номинала заданы неверно", "Invalid nominal age bands"),
    "nominal_amount": (
        "Номинал должен быть от 0 до {max} копеек",
        "A nominal must be from 0 to {max} kopecks",
    ),
    "limit_negative": ("Лимит сертификатов не может быть отрицательным", "The limit cannot be negative"),
    "period_already_closed": ("Период уже закрыт", "The period is already closed"),
    "period_closed": ("Приём заявок в периоде закрыт", "The period is closed for applications"),
    "no_open_period": ("Нет открытого периода финансирования", "No open funding period"),
}


def _merge_areas() -> None:
    """Each area keeps its messages in its own module; they all land in one table."""
    from pdo_graph.domain import messages_catalog, messages_enrollment, messages_integrations, messages_year
    from pdo_graph.domain.analytics import messages as messages_analytics

    for area in (messages_catalog, messages_enrollment, messages_integrations, messages_analytics, messages_year):
        for key, value in area.MESSAGES.items():
            if key in MESSAGES:
                raise RuntimeError(f"duplicate message key {key}")
            MESSAGES[key] = value


def render(key: str, lang: str, params: Mapping[str, object]) -> str:
    ru, en = MESSAGES.get(key, (key, key))
    template = en if lang == "en" else ru
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


_merge_areas()
