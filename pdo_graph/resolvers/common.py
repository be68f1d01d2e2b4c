"""What every resolver shares: authentication, global id decoding, running a unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.messages import render
from pdo_graph.ids import decode_pk
from pdo_graph.schema.base import UserError, user_errors
from pdo_graph.schema.context import Context

T = TypeVar("T")
INPUT = ("input",)  # the argument of every mutation: domain problems go under it


def require_auth(ctx: Context) -> None:
    """Mutations need a caller: anonymous requests get a top-level UNAUTHENTICATED error."""
    if ctx.actor.anonymous:
        raise GraphQLError(render("auth_required", ctx.lang, {}), extensions={"code": "UNAUTHENTICATED"})


def pk_of(global_id: str, type_name: str, field: list[str]) -> int:
    """Decode an input ID; a malformed or foreign-type id is a NOT_FOUND user error."""
    pk = decode_pk(global_id, type_name)
    if pk is None:
        raise DomainError(Problem(ErrorCode.NOT_FOUND, "not_found", field))
    return pk


async def run_write(
    ctx: Context, fn: Callable[[AsyncConnection], Awaitable[T]], under: Sequence[str] = ()
) -> tuple[T | None, list[UserError]]:
    """Run a domain unit of work; business refusals become userErrors (and nothing is written), their
    field paths put ``under`` the argument they concern (``["input"]`` where the domain names fields)."""
    return await run_service(ctx, lambda: ctx.db.write(fn), under)


async def run_service(
    ctx: Context, fn: Callable[[], Awaitable[T]], under: Sequence[str] = ()
) -> tuple[T | None, list[UserError]]:
    """``run_write`` for a domain service that runs its own reads and writes (``ctx.db.fetch``,
    ``ctx.db.write``): refusals become userErrors the same way."""
    require_auth(ctx)
    try:
        result = await fn()
    except DomainError as exc:
        return None, user_errors([p.under(under) for p in exc.problems], ctx.lang)
    finally:
        ctx.reset_loaders()
    return result, []
