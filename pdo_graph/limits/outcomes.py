"""What the gate answers: a document that may run (:class:`Prepared`), one refused by a limit
(:class:`Refused`, HTTP 400 with a code) or one with syntax or validation errors (:class:`Invalid`);
and the refusals' messages in Russian and English."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode

_MESSAGES: dict[str, tuple[str, str]] = {
    "query_chars": ("Запрос длиннее {max} символов", "The document is longer than {max} characters"),
    "tokens": ("В запросе больше {max} лексем", "The document has more than {max} tokens"),
    "nesting": ("Скобки в запросе вложены глубже {max} уровней", "Brackets in the document nest deeper than {max}"),
    "depth": ("Глубина запроса больше допустимой {max}", "The query is deeper than the maximum {max}"),
    "aliases": (
        "В запросе {count} псевдонимов полей, допустимо не больше {max}",
        "The query has {count} field aliases, at most {max} are allowed",
    ),
    "same_field": (
        "Поле {name} выбрано в одном наборе полей {count} раз, допустимо не больше {max}",
        "Field {name} is selected {count} times in one selection set, at most {max} are allowed",
    ),
    "too_complex": ("Запрос слишком сложен", "The document is too complex"),
    "unknown_fragment": ("Неизвестный фрагмент {name}", "Unknown fragment {name}"),
    "fragment_cycle": ("Фрагмент {name} включает сам себя", "Fragment {name} spreads itself"),
    "operation_name_required": (
        "В документе несколько операций: укажите, какую выполнить, в operationName",
        "The document has several operations: name the one to run in operationName",
    ),
    "operation_not_found": (
        "В документе нет операции с именем, указанным в operationName",
        "The document has no operation with the name given in operationName",
    ),
    "no_operation": (
        "В документе нет ни одной операции (только фрагменты)",
        "The document has no operation (only fragments)",
    ),
    "cost": (
        "Стоимость запроса {cost} больше допустимой {max}: уменьшите first или вложенность",
        "Query cost {cost} exceeds the maximum {max}",
    ),
}


def render(key: str, lang: str, params: Mapping[str, object]) -> str:
    ru, en = _MESSAGES[key]
    return (en if lang == "en" else ru).format(**params)


@dataclass(frozen=True)
class Refused:
    """A document refused by a limit or for want of one operation to run: HTTP 400 with a code."""

    code: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def error(self, lang: str) -> dict[str, Any]:
        return {"message": render(self.key, lang, self.params), "extensions": {"code": self.code, **self.extra}}


@dataclass(frozen=True)
class Invalid:
    """Syntax or validation errors: reported like any GraphQL request error."""

    errors: list[GraphQLError]
    code: str = "GRAPHQL_VALIDATION_FAILED"


@dataclass(frozen=True)
class Prepared:
    """A document that may run: its operation and cost."""

    document: DocumentNode
    operation: OperationDefinitionNode
    cost: int
