"""Shared schema parts: Node, Money, UserError, enums, connections and keyset cursors."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, NewType, Self, TypeVar

import orjson
import strawberry
from graphql import (
    FieldNode,
    FloatValueNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    SelectionSetNode,
    ValueNode,
)
from strawberry.types import Info
from strawberry.types.scalar import ScalarDefinition

from pdo_graph.domain.access import Role
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.money import CURRENCY, format_amount

if TYPE_CHECKING:
    from pdo_graph.reads.base import Key
    from pdo_graph.schema.context import Context

T = TypeVar("T")


def describe_values(enum: Any, descriptions: dict[str, str]) -> None:
    """The descriptions of a GraphQL enum's values (every value, exactly: an enum of the domain cannot
    say them itself)."""
    values = enum.__strawberry_definition__.values
    missing = {v.name for v in values} ^ descriptions.keys()
    assert not missing, f"{enum.__name__}: values without a description or unknown: {sorted(missing)}"
    for value in values:
        value.description = descriptions[value.name]


UserErrorCode = strawberry.enum(ErrorCode, name="UserErrorCode", description="Why a mutation was refused.")
describe_values(
    UserErrorCode,
    {
        "NOT_FOUND": "The object does not exist, or the caller may not see it.",
        "FORBIDDEN": "The caller may not do this.",
        "INVALID": "A value is malformed or out of range; `field` points at it.",
        "DUPLICATE": "It exists already (one certificate per child, one provider per ИНН, ...).",
        "CERTIFICATE_NOT_ACTIVE": "The certificate is frozen, expired or revoked.",
        "CERTIFICATE_NOT_FUNDED": (
            "The certificate holds no funded place in the period (QUEUED): only MUNICIPAL and PAID programs."
        ),
        "PERIOD_CLOSED": "No open funding period covers this.",
        "PROGRAM_NOT_CERTIFIED": "The program is not certified for certificate payments.",
        "GROUP_FULL": "No seats left in the group.",
        "GROUP_CLOSED": "The group takes no applications (archived, ended or closed).",
        "AGE_NOT_ELIGIBLE": "The child's age is outside the program's range.",
        "ALREADY_ENROLLED": "The child already has a live application or contract for this group.",
        "INVALID_TRANSITION": "The object's status does not allow this now.",
        "IDEMPOTENCY_KEY_REUSED": "The idempotency key was used before for another request.",
        "INSUFFICIENT_FUNDS": "The available balance does not cover it.",
        "LIMIT_EXCEEDED": "Too many items in one call.",
        "QUOTE_CHANGED": "The family's share recomputed now differs from the one the family confirmed; the message"
        " carries the new figures.",
    },
)


strawberry.enum(Role, description="Who the caller is.")
describe_values(
    Role,
    {
        "GUARDIAN": "A parent or legal guardian: applies for certificates, enrolls children.",
        "PROVIDER": "Staff (or the machine client) of an organisation providing programs.",
        "OPERATOR": "The municipality's operator: issues certificates, opens funding periods.",
        "ANALYST": "Reads aggregates only.",
    },
)


@strawberry.interface(description="An object with an opaque global ID (Relay).")
class Node:
    """A node type names the loader of its rows by pk (``rows``), builds itself from a row
    (``from_row``) and says who may see a row (``visible``, public by default); ``load`` is then the
    one way to fetch it by id (``node(id)``, a mutation's payload, a relation that checks visibility).
    A ``public`` type is the same for everyone who asks (the navigator's): its answers to anonymous
    GETs may be cached by HTTP caches."""

    id: strawberry.ID = strawberry.field(description="Opaque global identifier.")
    rows: ClassVar[Key[int, Any] | None] = None
    public: ClassVar[bool] = False

    @classmethod
    def from_row(cls, row: Any) -> Self:
        raise NotImplementedError(cls.__name__)

    @classmethod
    def visible(cls, ctx: Context, row: Any) -> bool:
        return True

    @classmethod
    async def load(cls, ctx: Context, pk: int) -> Self | None:
        """The object with this pk if it exists and the caller may see it."""
        if cls.rows is None:
            raise NotImplementedError(cls.__name__)
        row = await ctx.loaders[cls.rows].load(pk)
        return None if row is None or not cls.visible(ctx, row) else cls.from_row(row)


def _selects(selection_set: SelectionSetNode | None, path: Sequence[str], fragments: dict[str, Any]) -> bool:
    if selection_set is None:
        return False
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            if sel.name.value == path[0] and (len(path) == 1 or _selects(sel.selection_set, path[1:], fragments)):
                return True
        elif isinstance(sel, InlineFragmentNode):
            if _selects(sel.selection_set, path, fragments):
                return True
        elif isinstance(sel, FragmentSpreadNode):
            fragment = fragments.get(sel.name.value)
            if fragment is not None and _selects(fragment.selection_set, path, fragments):
                return True
    return False


def selects(info: Info[Any, Any], *path: str) -> bool:
    """Whether the field being resolved selects ``path`` (GraphQL names, through fragments; ``@skip``
    and ``@include`` are not looked at), e.g. ``selects(info, "edges", "node", "group")``. It walks
    the document itself: Strawberry's ``selected_fields`` converts the whole subtree on every call."""
    raw = info._raw_info
    return any(_selects(node.selection_set, path, raw.fragments) for node in raw.field_nodes)


def reads_ahead(info: Info[Context, Any], *path: str) -> bool:
    """Whether a resolver reads the levels down ``path`` in its own statement (``Along``), because the
    selection asks for them; off when the context says so (tests compare both ways)."""
    return info.context.read_ahead and selects(info, *path)


def related(ctx: Context, key: Key[Any, Any], pk: Any, build: Callable[[Any], Any]) -> Any:
    """``build(row)`` for the row of ``key`` at ``pk`` (None when there is none): at once when the
    request's loader holds it already (read along, or loaded before), else an awaitable of it. A
    relation field returns this from a plain ``def``: graphql-core awaits only what needs awaiting,
    and a field resolved at once costs a fraction of an ``async`` one."""
    loader = ctx.loaders[key]
    future = loader.cache_map.get(pk)
    if future is not None and future.done() and not future.cancelled() and future.exception() is None:
        return build(future.result())
    return _later(loader.load(pk), build)


async def _later(row: Awaitable[Any], build: Callable[[Any], Any]) -> Any:
    return build(await row)


def existing(build: Callable[[Any], T]) -> Callable[[Any], T]:
    """``build`` for a row that must exist (a foreign key)."""

    def checked(row: Any) -> T:
        assert row is not None
        return build(row)

    return checked


SAFE_INT_MAX = 2**53 - 1


def _safe_int(value: Any) -> int:
    """An integer JSON and JavaScript carry exactly; refuses anything else with a clear reason."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"SafeInt must be an integer, not {type(value).__name__}")
    if not -SAFE_INT_MAX <= value <= SAFE_INT_MAX:
        raise ValueError(f"SafeInt must be between -(2^53-1) and 2^53-1, {value} is not")
    return value


def _safe_int_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> int:
    if isinstance(node, IntValueNode):
        return _safe_int(int(node.value))
    if isinstance(node, FloatValueNode):
        return _safe_int(float(node.value))
    raise ValueError("SafeInt must be an integer")


SafeInt = NewType("SafeInt", int)
"""Kopecks and other integers beyond 32 bits; registered as the ``SafeInt`` scalar (``SCALARS``)."""

SCALARS: dict[object, ScalarDefinition] = {
    SafeInt: strawberry.scalar(
        name="SafeInt",
        description="An integer that JSON and JavaScript carry exactly: -(2^53-1) .. 2^53-1 (GraphQL's Int is 32-bit).",
        serialize=_safe_int,
        parse_value=_safe_int,
        parse_literal=_safe_int_literal,
    )
}


@strawberry.type(description="An amount of money in roubles.")
class Money:
    amount: str = strawberry.field(description='Decimal string with two places, e.g. "1500.00".')
    kopecks: SafeInt = strawberry.field(description="The amount in kopecks.")
    currency: str = strawberry.field(description='Currency code, always "RUB".')


@lru_cache(maxsize=4096)
def money(kopecks: int) -> Money:
    """The Money of an amount (amounts repeat: prices, nominals; the objects are never changed)."""
    return Money(amount=format_amount(kopecks), kopecks=SafeInt(kopecks), currency=CURRENCY)


@strawberry.type(description="The split recomputed when applying, which differs from what the family confirmed.")
class ChangedQuote:
    price: Money = strawberry.field(description="Price of the contract.")
    from_certificate: Money = strawberry.field(description="Paid from the certificate.")
    from_family: Money = strawberry.field(description="Co-paid by the family (what to confirm next time).")


@strawberry.type(description="A business refusal of a mutation, with the input path it concerns.")
class UserError:
    code: UserErrorCode = strawberry.field(description="Machine-readable code.")  # type: ignore[valid-type]
    field: list[str] | None = strawberry.field(description='Path into the input, e.g. ["input", "groupId"].')
    message: str = strawberry.field(description="Human-readable message, Russian by default.")
    changed_quote: ChangedQuote | None = strawberry.field(
        default=None, description="With QUOTE_CHANGED: the new figures, machine-readable (else null)."
    )


def _changed_quote(p: Problem) -> ChangedQuote | None:
    figures = p.params.get("figures")
    if p.code is not ErrorCode.QUOTE_CHANGED or not isinstance(figures, tuple):
        return None
    price, from_certificate, from_family = figures
    return ChangedQuote(price=money(price), from_certificate=money(from_certificate), from_family=money(from_family))


def user_errors(problems: Sequence[Problem], lang: str) -> list[UserError]:
    return [
        UserError(code=p.code, field=p.field, message=p.message(lang), changed_quote=_changed_quote(p))
        for p in problems
    ]


def error_list(exc: DomainError, lang: str) -> list[UserError]:
    return user_errors(exc.problems, lang)


def problem(code: ErrorCode, key: str, field: Sequence[str] | None = None, /, **params: object) -> Problem:
    return Problem(code, key, field, **params)


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(description="Items precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge.")


@strawberry.type(description="An edge of a connection.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque keyset cursor of this item.")
    node: T = strawberry.field(description="The item.")


Total = int | Callable[[], Awaitable[int]]
"""How many items a whole list has: known already, or counted when ``totalCount`` is selected."""


@strawberry.type(description="A page of a list, with keyset cursors.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
    _total: strawberry.Private[Total]

    @strawberry.field(description="Number of items in the whole list.")
    async def total_count(self) -> int:
        total = self._total
        return total if isinstance(total, int) else await total()


MAX_PAGE = 100

# Arguments that many fields share, with their descriptions.
First = Annotated[int, strawberry.argument(description=f"Page size: how many items, 1-{MAX_PAGE}.")]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Continue after this cursor (the endCursor of the page before); none: from the start."
    ),
]
Input = Annotated[
    T,
    strawberry.argument(
        description='What to do. A refusal comes back in the payload\'s userErrors, fields named under ["input", ...].'
    ),
]


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    """The keyset values of a cursor; raises ValueError when it is not ours."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise ValueError("bad cursor") from exc
    if not isinstance(values, list):
        raise ValueError("bad cursor")
    return values


def build_connection(
    items: Sequence[Any],
    first: int,
    total: Total,
    key: Callable[[Any], Sequence[Any]],
    wrap: Callable[[Any], T],
    after: str | None,
) -> Connection[T]:
    """``items`` holds up to first+1 rows in keyset order; the extra row says a next page exists.
    ``total`` is a number, or a function that counts (called only when ``totalCount`` is selected)."""
    page = list(items[:first])
    edges = [Edge(cursor=encode_cursor(key(row)), node=wrap(row)) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(items) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _total=total,
    )
