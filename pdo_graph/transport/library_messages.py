"""Russian for the GraphQL library's messages (graphql-core's syntax, validation and variable errors
come in English).

The messages a client developer meets every day are translated (:data:`PATTERNS`: unknown fields,
arguments and types, missing arguments and subfields, variables, wrong values, syntax); any other
message keeps its English text behind a Russian prefix (``Ошибка в запросе: ...``), so that a message
is never silently half-translated. The English text is what graphql-core says, field suggestions
removed.
"""

from __future__ import annotations

import re

_NAME = r"'([^']*)'"
_VAR = r"'\$([^']*)'"

PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), russian)
    for pattern, russian in (
        (rf"^Cannot query field {_NAME} on type {_NAME}\.$", "В типе '{1}' нет поля '{0}'."),
        (rf"^Unknown argument {_NAME} on field {_NAME}\.$", "У поля '{1}' нет аргумента '{0}'."),
        (rf"^Unknown argument {_NAME} on directive {_NAME}\.$", "У директивы '{1}' нет аргумента '{0}'."),
        (
            rf"^Field {_NAME} argument {_NAME} of type {_NAME} is required, but it was not provided\.$",
            "Не передан обязательный аргумент '{1}' (тип '{2}') поля '{0}'.",
        ),
        (
            rf"^Field {_NAME} of type {_NAME} is required, but it was not provided\.$",
            "Не передано обязательное поле '{0}' (тип '{1}').",
        ),
        (
            rf"^Field {_NAME} of required type {_NAME} was not provided\.$",
            "Не передано обязательное поле '{0}' (тип '{1}').",
        ),
        (
            rf"^Field {_NAME} of type {_NAME} must have a selection of subfields\..*$",
            "Для поля '{0}' (тип '{1}') нужно выбрать подполя: '{0} {{ ... }}'.",
        ),
        (
            rf"^Field {_NAME} must not have a selection since type {_NAME} has no subfields\.$",
            "У поля '{0}' нет подполей: его тип '{1}' — скалярный.",
        ),
        (
            rf"^Field {_NAME} is not defined by type {_NAME}\.$",
            "В типе '{1}' нет поля '{0}'.",
        ),
        (rf"^Unknown type {_NAME}\.$", "Неизвестный тип '{0}'."),
        (rf"^Unknown directive {_NAME}\.$", "Неизвестная директива '{0}'."),
        (rf"^Unknown fragment {_NAME}\.$", "Неизвестный фрагмент '{0}'."),
        (rf"^Fragment {_NAME} is never used\.$", "Фрагмент '{0}' не используется."),
        # the gate's own shape check (pdo_graph.limits.shape) words these two like the library
        (r"^Unknown fragment (\S+)$", "Неизвестный фрагмент {0}"),
        (r"^Fragment (\S+) spreads itself$", "Фрагмент {0} включает сам себя"),
        (
            rf"^Variable {_VAR} is not defined by operation {_NAME}\.$",
            "Переменная ${0} не объявлена в операции '{1}'.",
        ),
        (rf"^Variable {_VAR} is not defined\.$", "Переменная ${0} не объявлена."),
        (
            rf"^Variable {_VAR} is never used in operation {_NAME}\.$",
            "Переменная ${0} объявлена, но не используется в операции '{1}'.",
        ),
        (rf"^Variable {_VAR} is never used\.$", "Переменная ${0} объявлена, но не используется."),
        (
            rf"^Variable {_VAR} of type {_NAME} used in position expecting type {_NAME}\.$",
            "Переменная ${0} типа '{1}' передана туда, где ожидается тип '{2}'.",
        ),
        (
            rf"^Variable {_VAR} of required type {_NAME} was not provided\.$",
            "Не передана обязательная переменная ${0} (тип '{1}').",
        ),
        (
            rf"^Variable {_VAR} of non-null type {_NAME} must not be null\.$",
            "Переменная ${0} (тип '{1}') не может быть null.",
        ),
        (rf"^Variable {_VAR} got invalid value (.*)$", "Недопустимое значение переменной ${0}: {1}"),
        (
            rf"^Variable {_VAR} cannot be non-input type {_NAME}\.$",
            "Переменная ${0} не может иметь тип '{1}': это не тип ввода.",
        ),
        (rf"^Expected value of type {_NAME}, found (.*)$", "Ожидается значение типа '{0}', передано {1}"),
        (
            rf"^There can be only one operation named {_NAME}\.$",
            "В документе несколько операций с именем '{0}'.",
        ),
        (
            r"^This anonymous operation must be the only defined operation\.$",
            "Операция без имени должна быть единственной в документе.",
        ),
        (rf"^There can be only one argument named {_NAME}\.$", "Аргумент '{0}' передан больше одного раза."),
        (rf"^There can be only one variable named {_VAR}\.$", "Переменная ${0} объявлена больше одного раза."),
        (rf"^There can be only one fragment named {_NAME}\.$", "Фрагмент '{0}' определён больше одного раза."),
        (
            rf"^There can be only one input field named {_NAME}\.$",
            "Поле ввода '{0}' передано больше одного раза.",
        ),
        (
            rf"^Fields {_NAME} conflict because (.*) Use different aliases on the fields to fetch both if this was"
            r" intentional\.$",
            "Поля '{0}' конфликтуют (одно имя в ответе для разных значений): дайте им разные псевдонимы.",
        ),
        (
            r"^GraphQL introspection has been disabled, but the requested query contained the field '([^']*)'\.$",
            "Интроспекция схемы отключена, а запрос содержит поле '{0}'.",
        ),
        (
            r"^The (query|mutation|subscription) operation is not supported by the schema\.$",
            "Схема не поддерживает операции {0}.",
        ),
        (r"^Syntax Error: Unterminated string\.$", "Синтаксическая ошибка: незакрытая строка."),
        (r"^Syntax Error: Expected (.*), found (.*)\.$", "Синтаксическая ошибка: ожидается {0}, найдено {1}."),
        (r"^Syntax Error: Unexpected (.*)\.$", "Синтаксическая ошибка: неожиданный символ {0}."),
        (r"^Syntax Error: (.*)$", "Синтаксическая ошибка: {0}"),
    )
)
FALLBACK = "Ошибка в запросе: {0}"


def translate(message: str) -> str:
    """The Russian for one of graphql-core's messages (or the English one behind a Russian prefix)."""
    for pattern, russian in PATTERNS:
        found = pattern.match(message)
        if found is not None:
            return russian.format(*found.groups())
    return FALLBACK.format(message)
