"""One actor per request: a provider token's organisation is resolved once, whichever way it is named."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.auth.actor import resolve_actor
from pdo_graph.auth.principal import Principal, Role
from pdo_graph.db.session import transaction
from pdo_graph.domain.access import Actor
from pdo_graph.ids import encode_id
from tests.enrollment.conftest import PROVIDER_INN, add_provider
from tests.helpers import recorded_statements


def reader(engine: AsyncEngine):  # type: ignore[no-untyped-def]
    return lambda fn: transaction(engine, fn)


async def test_a_provider_names_its_organisation_by_inn_global_id_or_number(db: AsyncEngine) -> None:
    pid = await add_provider(db)
    other = await add_provider(db, inn="7707083893")
    for claim in (PROVIDER_INN, encode_id("Provider", pid), str(pid)):
        with recorded_statements(db) as statements:
            actor = await resolve_actor(Principal(Role.PROVIDER, "staff", claim), reader(db))
        assert actor == Actor.provider("staff", pid), claim
        assert len(statements) == 1
    assert (await resolve_actor(Principal(Role.PROVIDER, "x", "7707083893"), reader(db))).provider_id == other


async def test_an_unregistered_organisation_leaves_the_provider_without_one(db: AsyncEngine) -> None:
    await add_provider(db)
    for claim in ("7728168971", encode_id("Provider", 999_999), "999999", encode_id("Program", 1)):
        actor = await resolve_actor(Principal(Role.PROVIDER, "staff", claim), reader(db))
        assert actor.role is Role.PROVIDER and actor.provider_id is None, claim


async def test_other_roles_need_no_statement(db: AsyncEngine) -> None:
    with recorded_statements(db) as statements:
        guardian = await resolve_actor(Principal(Role.GUARDIAN, "alice"), reader(db))
        operator = await resolve_actor(Principal(Role.OPERATOR, "op", municipality="01"), reader(db))
        anonymous = await resolve_actor(Principal(), reader(db))
    assert statements == []
    assert guardian == Actor.guardian("alice") and guardian.label == "guardian:alice"
    assert operator == Actor.operator("op", "01") and operator.label == "operator:op"
    assert anonymous.anonymous
