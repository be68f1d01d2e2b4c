"""Validation of connection arguments (``first`` in 1..100, cursors of ours)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from pdo_graph.domain.text import text_problem
from pdo_graph.schema.base import MAX_PAGE, decode_cursor

_MESSAGES = {
    "first": ("Аргумент first должен быть от 1 до {max}", "Argument first must be between 1 and {max}"),
    "after": ("Некорректный курсор after", "Malformed cursor in after"),
}


def _msg(key: str, lang: str, **params: object) -> str:
    ru, en = _MESSAGES[key]
    return (en if lang == "en" else ru).format(**params)


def _fits(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if kind is str:
        return isinstance(value, str) and text_problem(value, ["after"]) is None
    return isinstance(value, kind)


def page_args(
    first: int, after: str | None, lang: str, shape: tuple[type, ...] | None = None
) -> tuple[int, list[Any] | None]:
    """Check ``first`` and decode ``after``; a malformed request is a top-level error.

    With ``shape`` (the types of the cursor's keyset values, e.g. ``(int,)``) a cursor of another
    shape is malformed too: its values go into SQL, so a crafted cursor must not reach it."""
    if not 1 <= first <= MAX_PAGE:
        raise GraphQLError(_msg("first", lang, max=MAX_PAGE), extensions={"code": "BAD_USER_INPUT"})
    try:
        key = decode_cursor(after)
    except ValueError:
        raise GraphQLError(_msg("after", lang), extensions={"code": "BAD_USER_INPUT"}) from None
    if key is not None and shape is not None and (len(key) != len(shape) or not all(map(_fits, key, shape))):
        raise GraphQLError(_msg("after", lang), extensions={"code": "BAD_USER_INPUT"})
    return first, key
