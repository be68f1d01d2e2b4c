"""Validation of connection arguments (``first`` in 1..100, cursors of ours)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from pdo_graph.schema.base import MAX_PAGE, decode_cursor

_MESSAGES = {
    "first": ("Аргумент first должен быть от 1 до {max}", "Argument first must be between 1 and {max}"),
    "after": ("Некорректный курсор after", "Malformed cursor in after"),
}


def _msg(key: str, lang: str, **params: object) -> str:
    ru, en = _MESSAGES[key]
    return (en if lang == "en" else ru).format(**params)


def page_args(first: int, after: str | None, lang: str) -> tuple[int, list[Any] | None]:
    """Check ``first`` and decode ``after``; a malformed request is a top-level error."""
    if not 1 <= first <= MAX_PAGE:
        raise GraphQLError(_msg("first", lang, max=MAX_PAGE), extensions={"code": "BAD_USER_INPUT"})
    try:
        return first, decode_cursor(after)
    except ValueError:
        raise GraphQLError(_msg("after", lang), extensions={"code": "BAD_USER_INPUT"}) from None
