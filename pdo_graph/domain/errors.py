"""Business refusals: a code from the API's UserErrorCode, a message key and the field it concerns.

A problem names fields as the domain gives them (``["groupId"]``, ``["items", "3", "completeness"]``,
``[]`` for the whole request); the resolver puts them under the argument they came in
(:meth:`Problem.under`), e.g. ``["input", "groupId"]``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from enum import StrEnum

from pdo_graph.domain.messages import render


@functools.cache
def field_name(name: str) -> str:
    """The name a field goes by in problems (the API's): ``starts_on`` -> ``startsOn``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def field(name: str, under: Sequence[str] = ()) -> list[str]:
    """The path of a data field in problems, below ``under`` (e.g. ``("groups", "0")``)."""
    return [*under, field_name(name)]


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INVALID = "INVALID"
    DUPLICATE = "DUPLICATE"
    CERTIFICATE_NOT_ACTIVE = "CERTIFICATE_NOT_ACTIVE"
    CERTIFICATE_NOT_FUNDED = "CERTIFICATE_NOT_FUNDED"
    PERIOD_CLOSED = "PERIOD_CLOSED"
    PROGRAM_NOT_CERTIFIED = "PROGRAM_NOT_CERTIFIED"
    GROUP_FULL = "GROUP_FULL"
    GROUP_CLOSED = "GROUP_CLOSED"
    AGE_NOT_ELIGIBLE = "AGE_NOT_ELIGIBLE"
    ALREADY_ENROLLED = "ALREADY_ENROLLED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    QUOTE_CHANGED = "QUOTE_CHANGED"


class Problem:
    """One refusal, renderable in Russian (default) or English."""

    __slots__ = ("code", "field", "key", "params")

    def __init__(self, code: ErrorCode, key: str, field: Sequence[str] | None = None, /, **params: object) -> None:
        self.code = code
        self.key = key
        self.field = None if field is None else list(field)  # [] is the whole input
        self.params = params

    def under(self, prefix: Sequence[str]) -> Problem:
        """The same problem with its field path below ``prefix`` (a problem without a field stays so)."""
        if self.field is None:
            return self
        return Problem(self.code, self.key, [*prefix, *self.field], **self.params)

    def message(self, lang: str = "ru") -> str:
        return render(self.key, lang, self.params)

    def __repr__(self) -> str:
        return f"Problem({self.code}, {self.key!r}, {self.field!r})"


class DomainError(Exception):
    """Raised by domain services; the transaction rolls back and the caller gets userErrors."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(", ".join(repr(p) for p in problems))
        self.problems = list(problems)

    @classmethod
    def of(cls, code: ErrorCode, key: str, field: Sequence[str] | None = None, /, **params: object) -> DomainError:
        return cls(Problem(code, key, field, **params))
