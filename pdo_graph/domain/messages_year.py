"""User-facing messages of the operator's year (verification queue, periods, prolongation, consent,
statements): key -> (Russian, English)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "reason_required": ("Укажите причину отказа", "Give the reason of the rejection"),
    "application_open": (
        "На этого ребёнка уже подано заявление, оно ещё не рассмотрено",
        "An application for this child is already waiting for verification",
    ),
    "group_outside_period": (
        "Группа не занимается в текущем периоде финансирования",
        "The group does not run in the current funding period",
    ),
    "provision_window_closed": (
        "Срок отчёта за {month} истёк (месяц можно отчитать до конца следующего месяца)",
        "The report for {month} is too late (a month can be reported until the end of the next month)",
    ),
    "quote_changed": (
        "Доля семьи изменилась, пересчитайте: семья платит {from_family} ₽, сертификат {from_certificate} ₽"
        " из {price} ₽",
        "The family's share has changed, please recalculate: the family pays {from_family} RUB, the certificate"
        " {from_certificate} RUB of {price} RUB",
    ),
    "consent_not_awaited": (
        "Договор не ожидает согласия семьи (статус {status})",
        "The contract is not waiting for the family's consent (status {status})",
    ),
    "prolong_period_not_open": (
        "Продлевать можно только в открытый период",
        "Contracts can be prolonged only into an open period",
    ),
    "prolong_not_eligible": (
        "Договор нельзя продлить: он не завершён окончанием предыдущего периода или группа уже не занимается",
        "The contract cannot be prolonged: it did not end with the previous period, or its group no longer runs",
    ),
    "statement_month_open": (
        "Месяц {month} ещё можно отчитать: акт выпускается после окончания срока отчётов",
        "The month {month} can still be reported: the statement is issued after the reporting window",
    ),
    "statement_issued": ("Акт уже выпущен под номером {number}", "The statement was already issued as {number}"),
}
