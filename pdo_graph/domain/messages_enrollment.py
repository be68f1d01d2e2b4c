"""User-facing messages of the enrollment area: key -> (Russian, English)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # notifications
    "notifications_too_many": ("Не более {max} уведомлений за раз", "At most {max} notifications at once"),
    # applying
    "enrollment_certificate_inactive": (
        "Сертификат не действует (статус {status}): подать заявку с ним нельзя",
        "The certificate is not active (status {status}): it cannot be used to apply",
    ),
    "enrollment_certificate_not_funded": (
        "Сертификат не получил место финансирования в текущем периоде (в очереди): доступны бесплатные и платные"
        " программы, но не программы персонифицированного финансирования",
        "The certificate holds no funded place in the current period (it is queued): free and paid programs are"
        " open to it, certificate-funded ones are not",
    ),
    "enrollment_program_not_certified": (
        "Программа не сертифицирована: оплатить её сертификатом нельзя",
        "The program is not certified and cannot be paid for with a certificate",
    ),
    "enrollment_group_closed": (
        "Запись в группу закрыта",
        "The group is closed for enrollment",
    ),
    "enrollment_group_full": (
        "В группе нет свободных мест",
        "The group has no free seats",
    ),
    "enrollment_age": (
        "Возраст ребёнка на дату начала занятий ({age}) вне диапазона программы: от {min} до {max} лет",
        "The child's age on the start date ({age}) is outside the program's range: {min} to {max} years",
    ),
    "enrollment_already": (
        "У ребёнка уже есть заявка или договор в этой группе",
        "The child already has an application or a contract for this group",
    ),
    "enrollment_key_reused": (
        "Ключ идемпотентности уже использован для другой заявки",
        "The idempotency key was already used for a different request",
    ),
    # decisions
    "enrollment_transition": (
        "Действие недоступно для заявки в статусе {status}",
        "Not possible for an enrollment in status {status}",
    ),
    "enrollment_stale": (
        "Заявка не рассмотрена в течение {days} дней и считается просроченной",
        "The application was not answered within {days} days and has expired",
    ),
    "enrollment_provider_cancel_requested": (
        "Заявку, которая ещё не принята, поставщик отклоняет, а не расторгает",
        "A provider refuses an application that has not been accepted; it cannot be cancelled",
    ),
    # monthly provision
    "provision_empty": ("Отчёт не содержит ни одной строки", "The report has no items"),
    "provision_too_many": (
        "В одном отчёте не больше {max} строк",
        "A report may hold at most {max} items",
    ),
    "provision_completeness": (
        "Полнота оказания услуги — целое число от 0 до 100",
        "Completeness must be an integer from 0 to 100",
    ),
    "provision_repeated": (
        "Договор указан в отчёте дважды",
        "The contract appears twice in the report",
    ),
    "provision_outside": (
        "Месяц вне срока договора ({first} — {last})",
        "The month lies outside the contract ({first} to {last})",
    ),
    "provision_not_begun": (
        "Месяц ещё не начался: отчитаться за него нельзя",
        "The month has not begun yet and cannot be reported",
    ),
    "provision_already": (
        "За {month} по этому договору уже отчитались",
        "{month} has already been reported for this contract",
    ),
    "enrollment_child_hidden": (
        "Поставщику недоступны персональные данные ребёнка: используйте поле pupil",
        "Providers may not read the child's personal data: use the pupil field",
    ),
    # reviews
    "review_rating": ("Оценка — целое число от 1 до 5", "The rating must be an integer from 1 to 5"),
    "review_not_eligible": (
        "Оценить программу можно только по действующему или завершённому договору",
        "Only a contract that is or was active may be reviewed",
    ),
    "review_duplicate": (
        "Отзыв по этому договору уже оставлен",
        "This contract has already been reviewed",
    ),
}
