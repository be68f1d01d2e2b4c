"""Catalog steps through the GraphQL API, as operators and providers would take them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.domain.identifiers import inn_with_checksum
from pdo_graph.ids import decode_pk

PROVIDER_FIELDS = "id name inn municipality address"
PROGRAM_FIELDS = (
    "id title description direction minAge maxAge certified archived municipality hours form address"
    " latitude longitude externalId normativeCost { kopecks } provider { id }"
)
GROUP_FIELDS = "id name startsOn endsOn capacity seatsLeft price { kopecks amount } enrollmentOpen archived schedule"
ERRORS = "userErrors { code field message }"

REGISTER = f"""
mutation($input: ProviderRegisterInput!) {{
  providerRegister(input: $input) {{ provider {{ {PROVIDER_FIELDS} }} {ERRORS} }}
}}"""
PROVIDER_UPDATE = f"""
mutation($input: ProviderUpdateInput!) {{
  providerUpdate(input: $input) {{ provider {{ {PROVIDER_FIELDS} }} {ERRORS} }}
}}"""
PROGRAM_CREATE = f"""
mutation($input: ProgramCreateInput!) {{
  programCreate(input: $input) {{ program {{ {PROGRAM_FIELDS} }} {ERRORS} }}
}}"""
PROGRAM_UPDATE = f"""
mutation($input: ProgramUpdateInput!) {{
  programUpdate(input: $input) {{ program {{ {PROGRAM_FIELDS} }} {ERRORS} }}
}}"""
PROGRAM_ARCHIVE = f"""
mutation($input: ProgramArchiveInput!) {{
  programArchive(input: $input) {{ program {{ {PROGRAM_FIELDS} }} {ERRORS} }}
}}"""
PROGRAM_CERTIFY = f"""
mutation($input: ProgramCertifyInput!) {{
  programCertify(input: $input) {{ program {{ {PROGRAM_FIELDS} }} {ERRORS} }}
}}"""
GROUP_CREATE = f"""
mutation($input: GroupCreateInput!) {{
  groupCreate(input: $input) {{ group {{ {GROUP_FIELDS} }} {ERRORS} }}
}}"""
GROUP_UPDATE = f"""
mutation($input: GroupUpdateInput!) {{
  groupUpdate(input: $input) {{ group {{ {GROUP_FIELDS} }} {ERRORS} }}
}}"""
GROUP_CLOSE = f"""
mutation($input: GroupCloseInput!) {{
  groupClose(input: $input) {{ group {{ {GROUP_FIELDS} }} {ERRORS} }}
}}"""
GROUP_ARCHIVE = f"""
mutation($input: GroupArchiveInput!) {{
  groupArchive(input: $input) {{ group {{ {GROUP_FIELDS} }} {ERRORS} }}
}}"""

SEARCH = """
query($first: Int!, $after: String, $search: String, $filter: ProgramFilter, $orderBy: ProgramOrder) {
  programs(first: $first, after: $after, search: $search, filter: $filter, orderBy: $orderBy) {
    totalCount
    facets { direction count }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id title direction certified municipality minAge maxAge } }
  }
}"""

_serial = iter(range(100_000_000, 999_999_999, 7919))


def new_inn() -> str:
    return inn_with_checksum(f"{next(_serial):09d}")


def operator(token: Any, municipality: str = "01") -> str:
    return str(token("OPERATOR", f"op-{municipality}", municipality=municipality))


async def mutate(
    gql: Any, document: str, name: str, input: dict[str, Any], tok: str | None, lang: str | None = None
) -> dict[str, Any]:
    body = await gql(document, {"input": input}, token=tok, lang=lang)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][name]
    return result


async def register_provider(
    gql: Any, token: Any, name: str = 'МБУ ДО "Станция юных техников"', municipality: str = "01", inn: str | None = None
) -> dict[str, Any]:
    """Register a provider as the municipality's operator; returns the provider and a staff token."""
    inn = inn or new_inn()
    result = await mutate(
        gql,
        REGISTER,
        "providerRegister",
        {"name": name, "inn": inn, "municipality": municipality, "address": "ул. Ленина, д. 1"},
        operator(token, municipality),
    )
    assert result["userErrors"] == [], result
    provider: dict[str, Any] = result["provider"]
    provider["token"] = token("PROVIDER", f"staff-{inn}", provider=inn)
    return provider


def program_input(
    title: str = "Робототехника",
    description: str = "Собираем и программируем роботов из конструкторов.",
    direction: str = "TECHNICAL",
    min_age: int = 7,
    max_age: int = 14,
    municipality: str = "01",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "direction": direction,
        "minAge": min_age,
        "maxAge": max_age,
        "municipality": municipality,
        **extra,
    }


async def create_program(gql: Any, provider: dict[str, Any], certify_with: Any = None, **fields: Any) -> dict[str, Any]:
    result = await mutate(gql, PROGRAM_CREATE, "programCreate", program_input(**fields), provider["token"])
    assert result["userErrors"] == [], result
    program: dict[str, Any] = result["program"]
    if certify_with is not None:
        certified = await mutate(
            gql,
            PROGRAM_CERTIFY,
            "programCertify",
            {"programId": program["id"], "certified": True},
            operator(certify_with, program["municipality"]),
        )
        assert certified["userErrors"] == [], certified
        program = certified["program"]
    return program


def group_input(
    program_id: str,
    name: str = "Группа 1",
    price: int = 1_200_000,
    capacity: int = 12,
    starts_in_days: int = 30,
    months: int = 6,
    **extra: Any,
) -> dict[str, Any]:
    starts = date.today() + timedelta(days=starts_in_days)
    ends = starts + timedelta(days=30 * months)
    return {
        "programId": program_id,
        "name": name,
        "startsOn": starts.isoformat(),
        "endsOn": ends.isoformat(),
        "capacity": capacity,
        "price": price,
        **extra,
    }


async def create_group(gql: Any, provider: dict[str, Any], program_id: str, **fields: Any) -> dict[str, Any]:
    result = await mutate(gql, GROUP_CREATE, "groupCreate", group_input(program_id, **fields), provider["token"])
    assert result["userErrors"] == [], result
    group: dict[str, Any] = result["group"]
    return group


async def search(
    gql: Any,
    first: int = 20,
    search: str | None = None,
    filter: dict[str, Any] | None = None,
    order_by: str | None = None,
    after: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    body = await gql(
        SEARCH, {"first": first, "after": after, "search": search, "filter": filter, "orderBy": order_by}, token=token
    )
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["programs"]
    return result


def titles(connection: dict[str, Any]) -> list[str]:
    return [e["node"]["title"] for e in connection["edges"]]


def facets(connection: dict[str, Any]) -> dict[str, int]:
    return {f["direction"]: f["count"] for f in connection["facets"]}


@asynccontextmanager
async def seats_taken(engine: AsyncEngine, group_id: str, taken: int) -> AsyncIterator[None]:
    """Pretend ``taken`` seats of a group are taken, and give them back afterwards.

    Seats are taken by enrollments (the ledger check after each test compares them), which belong to
    another area; the catalog only needs the number, so it is set and restored around the block.
    """
    pk = decode_pk(group_id, "Group")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE groups SET seats_taken = :n WHERE id = :id"), {"n": taken, "id": pk})
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE groups SET seats_taken = 0 WHERE id = :id"), {"id": pk})
