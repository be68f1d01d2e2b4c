"""The catalog: providers, programs and groups.

Two layers, so that the provider catalog sync can reuse the writes:

- data functions (``insert_provider``, ``create_program``, ``upsert_program``, ``update_program``,
  ``create_group``, ``upsert_group``, ``update_group``, ``set_*``, ``archive_groups_except``) validate
  and write. They take ids, never a principal: the caller has already decided who may write.
  ``upsert_*`` key on ``(provider, external_id)`` / ``(program, external_id)`` and report whether a
  row was created, updated or left unchanged;
- authorisation (``require_provider``, ``own_program``, ``own_group``, ``certify_program``,
  ``register_provider``, ``editable_provider``), used by the mutations.

Problems carry field paths under ``at``: ``["input"]`` for a mutation, e.g.
``["input", "items", "3"]`` for one row of a catalog upload. Rows are locked with
``FOR NO KEY UPDATE`` (a group row before anything else, as enrollment does).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.db.tables import DIRECTIONS
from pdo_graph.domain.access import Actor, Role, require_operator_of, require_role
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.identifiers import is_valid_inn, normalize_digits
from pdo_graph.domain.money import MAX_PRICE_KOPECKS

PROVIDER_NAME_LEN = (3, 300)
TITLE_LEN = (3, 200)
DESCRIPTION_LEN = (10, 5000)
GROUP_NAME_LEN = (1, 200)
ADDRESS_LEN = (1, 500)
SCHEDULE_LEN = (1, 500)
EXTERNAL_ID_MAX = 200
AGES = (0, 18)
HOURS = (1, 5000)
CAPACITY = (1, 1000)
FORMS = ("очная", "очно-заочная", "заочная", "дистанционная")

Path = Sequence[str]


class UpsertStatus(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    UNCHANGED = "UNCHANGED"


@dataclass(frozen=True, slots=True)
class Upserted:
    id: int
    status: UpsertStatus


@dataclass(frozen=True, slots=True)
class ProviderData:
    name: str
    inn: str
    municipality: str
    address: str | None = None


@dataclass(frozen=True, slots=True)
class ProgramData:
    """A program as a provider describes it (certification and rating are not the provider's)."""

    title: str
    description: str
    direction: str
    min_age: int
    max_age: int
    municipality: str
    normative_cost: int | None = None
    hours: int | None = None
    form: str = "очная"
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    external_id: str | None = None
    archived: bool = False


@dataclass(frozen=True, slots=True)
class GroupData:
    name: str
    starts_on: date
    ends_on: date
    capacity: int
    price: int  # kopecks for the whole run
    enrollment_open: bool = True
    schedule: str | None = None
    external_id: str | None = None
    archived: bool = False


PROGRAM_FIELDS = frozenset(f.name for f in dataclasses.fields(ProgramData))
GROUP_FIELDS = frozenset(f.name for f in dataclasses.fields(GroupData))
_PROGRAM_COLUMNS = tuple(f.name for f in dataclasses.fields(ProgramData))
_GROUP_COLUMNS = tuple(f.name for f in dataclasses.fields(GroupData))


@functools.cache
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _at(at: Path, name: str) -> list[str]:
    return [*at, _camel(name)]


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _optional_line(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = _one_line(value)
    return cleaned or None


def _length(problems: list[Problem], value: str | None, bounds: tuple[int, int], field: list[str]) -> None:
    if value is not None and not bounds[0] <= len(value) <= bounds[1]:
        problems.append(Problem(ErrorCode.INVALID, "text_length", field, min=bounds[0], max=bounds[1]))


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _printable(problems: list[Problem], data: object, at: Path) -> None:
    """Text fields must not carry NUL or other control characters (line breaks and tabs aside)."""
    names = _FIELD_NAMES.get(type(data))
    if names is None:
        names = _FIELD_NAMES[type(data)] = tuple(f.name for f in dataclasses.fields(data))  # type: ignore[arg-type]
    for name in names:
        value = getattr(data, name)
        if isinstance(value, str) and _CONTROL.search(value):
            problems.append(Problem(ErrorCode.INVALID, "catalog_text_invalid", _at(at, name)))


def _external_id(problems: list[Problem], value: str | None, field: list[str]) -> None:
    if value is not None and not 1 <= len(value) <= EXTERNAL_ID_MAX:
        problems.append(Problem(ErrorCode.INVALID, "catalog_external_id_length", field, max=EXTERNAL_ID_MAX))


async def _municipality_exists(conn: AsyncConnection, code: str) -> bool:
    row = await conn.execute(text("SELECT 1 FROM municipalities WHERE code = :c"), {"c": code})
    return row.first() is not None


async def _check_municipality(conn: AsyncConnection, code: str, field: list[str]) -> None:
    if not await _municipality_exists(conn, code):
        raise DomainError.of(ErrorCode.INVALID, "municipality_unknown", field, code=code)


# --- providers ---------------------------------------------------------------------------------


def normalize_provider(data: ProviderData, at: Path = ("input",)) -> ProviderData:
    """Clean the text and check the name, the ИНН checksum and the address; raises DomainError."""
    clean = ProviderData(
        name=_one_line(data.name),
        inn=normalize_digits(data.inn),
        municipality=data.municipality.strip(),
        address=_optional_line(data.address),
    )
    problems: list[Problem] = []
    _printable(problems, clean, at)
    _length(problems, clean.name, PROVIDER_NAME_LEN, _at(at, "name"))
    if not is_valid_inn(clean.inn):
        problems.append(Problem(ErrorCode.INVALID, "catalog_inn_invalid", _at(at, "inn")))
    _length(problems, clean.address, ADDRESS_LEN, _at(at, "address"))
    if problems:
        raise DomainError(*problems)
    return clean


async def insert_provider(conn: AsyncConnection, data: ProviderData, at: Path = ("input",)) -> int:
    """Register an organisation; a second one with the same ИНН is a DUPLICATE."""
    clean = normalize_provider(data, at)
    await _check_municipality(conn, clean.municipality, _at(at, "municipality"))
    new_id = (
        await conn.execute(
            text(
                "INSERT INTO providers (name, inn, municipality, address) VALUES (:name, :inn, :m, :address)"
                " ON CONFLICT (inn) DO NOTHING RETURNING id"
            ),
            {"name": clean.name, "inn": clean.inn, "m": clean.municipality, "address": clean.address},
        )
    ).scalar()
    if new_id is None:
        raise DomainError.of(ErrorCode.DUPLICATE, "catalog_provider_duplicate", _at(at, "inn"))
    return int(new_id)


async def register_provider(conn: AsyncConnection, principal: Actor, data: ProviderData, at: Path = ("input",)) -> int:
    """An operator registers an organisation of their own municipality."""
    require_operator_of(principal, data.municipality.strip(), _at(at, "municipality"))
    return await insert_provider(conn, data, at)


async def editable_provider(
    conn: AsyncConnection, principal: Actor, own_provider_id: int | None, provider_id: int, field: Path
) -> Row[Any]:
    """The provider row, locked, if the caller is its staff or the operator of its municipality."""
    require_role(principal, Role.PROVIDER, Role.OPERATOR)
    row = (
        await conn.execute(
            text("SELECT id, name, inn, municipality, address FROM providers WHERE id = :id FOR NO KEY UPDATE"),
            {"id": provider_id},
        )
    ).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", field)
    if principal.role is Role.OPERATOR:
        require_operator_of(principal, row.municipality, field)
    else:
        require_provider(principal, own_provider_id, provider_id, field)
    return row


async def update_provider(
    conn: AsyncConnection, provider_id: int, changes: Mapping[str, Any], at: Path = ("input",)
) -> None:
    """Change the name and/or address (the ИНН and municipality identify the organisation)."""
    unknown = set(changes) - {"name", "address"}
    if unknown:
        raise ValueError(f"not changeable: {sorted(unknown)}")
    row = (
        await conn.execute(
            text("SELECT name, inn, municipality, address FROM providers WHERE id = :id FOR NO KEY UPDATE"),
            {"id": provider_id},
        )
    ).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", [*at, "providerId"])
    current = ProviderData(name=row.name, inn=row.inn, municipality=row.municipality, address=row.address)
    clean = normalize_provider(dataclasses.replace(current, **changes), at)
    await conn.execute(
        text("UPDATE providers SET name = :name, address = :address WHERE id = :id"),
        {"name": clean.name, "address": clean.address, "id": provider_id},
    )


# --- authorisation -----------------------------------------------------------------------------


def require_provider(principal: Actor, own_provider_id: int | None, provider_id: int, field: Path) -> str:
    """The caller is staff (or a machine client) of exactly this provider."""
    subject = require_role(principal, Role.PROVIDER)
    if own_provider_id is None:
        raise DomainError.of(ErrorCode.FORBIDDEN, "catalog_provider_unknown", field)
    if own_provider_id != provider_id:
        raise DomainError.of(ErrorCode.FORBIDDEN, "catalog_provider_not_own", field)
    return subject


def require_some_provider(principal: Actor, own_provider_id: int | None) -> int:
    """The caller is staff of a registered provider; returns that provider's id."""
    require_role(principal, Role.PROVIDER)
    if own_provider_id is None:
        raise DomainError.of(ErrorCode.FORBIDDEN, "catalog_provider_unknown")
    return own_provider_id


async def own_program(
    conn: AsyncConnection, principal: Actor, own_provider_id: int | None, program_id: int, field: Path
) -> Row[Any]:
    """The program row, locked, if it belongs to the calling provider (FORBIDDEN otherwise)."""
    require_role(principal, Role.PROVIDER)
    row = await _lock_program(conn, program_id, field)
    require_provider(principal, own_provider_id, row.provider_id, field)
    return row


async def own_group(
    conn: AsyncConnection, principal: Actor, own_provider_id: int | None, group_id: int, field: Path
) -> Row[Any]:
    """The group row, locked, if its program belongs to the calling provider."""
    require_role(principal, Role.PROVIDER)
    row = await _lock_group(conn, group_id, field)
    require_provider(principal, own_provider_id, row.provider_id, field)
    return row


# --- programs ----------------------------------------------------------------------------------


def normalize_program(data: ProgramData, at: Path = ("input",)) -> ProgramData:
    """Clean the text and check every rule that needs no database; raises DomainError."""
    clean = dataclasses.replace(
        data,
        title=_one_line(data.title),
        description=data.description.strip(),
        municipality=data.municipality.strip(),
        form=_one_line(data.form).lower(),
        address=_optional_line(data.address),
        external_id=None if data.external_id is None else data.external_id.strip(),
    )
    problems: list[Problem] = []
    _printable(problems, clean, at)
    _length(problems, clean.title, TITLE_LEN, _at(at, "title"))
    _length(problems, clean.description, DESCRIPTION_LEN, _at(at, "description"))
    if clean.direction not in DIRECTIONS:
        problems.append(Problem(ErrorCode.INVALID, "catalog_direction_unknown", _at(at, "direction")))
    ages_ok = True
    for name in ("min_age", "max_age"):
        if not AGES[0] <= getattr(clean, name) <= AGES[1]:
            problems.append(Problem(ErrorCode.INVALID, "catalog_age_range", _at(at, name), min=AGES[0], max=AGES[1]))
            ages_ok = False
    if ages_ok and clean.min_age > clean.max_age:
        problems.append(Problem(ErrorCode.INVALID, "catalog_age_order", _at(at, "max_age")))
    if clean.normative_cost is not None and not 0 <= clean.normative_cost <= MAX_PRICE_KOPECKS:
        problems.append(
            Problem(ErrorCode.INVALID, "catalog_normative_range", _at(at, "normative_cost"), max=MAX_PRICE_KOPECKS)
        )
    if clean.hours is not None and not HOURS[0] <= clean.hours <= HOURS[1]:
        problems.append(Problem(ErrorCode.INVALID, "catalog_hours_range", _at(at, "hours"), min=HOURS[0], max=HOURS[1]))
    if clean.form not in FORMS:
        problems.append(Problem(ErrorCode.INVALID, "catalog_form_unknown", _at(at, "form"), forms=", ".join(FORMS)))
    _length(problems, clean.address, ADDRESS_LEN, _at(at, "address"))
    if not _coordinates_ok(clean.latitude, clean.longitude):
        field = "latitude" if clean.latitude is None or not -90 <= clean.latitude <= 90 else "longitude"
        problems.append(Problem(ErrorCode.INVALID, "catalog_coordinates", _at(at, field)))
    _external_id(problems, clean.external_id, _at(at, "external_id"))
    if problems:
        raise DomainError(*problems)
    return clean


def _coordinates_ok(lat: float | None, lon: float | None) -> bool:
    if lat is None and lon is None:
        return True
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    return -90 <= lat <= 90 and -180 <= lon <= 180


async def validated_program(conn: AsyncConnection, data: ProgramData, at: Path = ("input",)) -> ProgramData:
    clean = normalize_program(data, at)
    await _check_municipality(conn, clean.municipality, _at(at, "municipality"))
    return clean


def _program_params(data: ProgramData) -> dict[str, Any]:
    return {name: getattr(data, name) for name in _PROGRAM_COLUMNS}


_PROGRAM_VALUES = ", ".join(f":{c}" for c in _PROGRAM_COLUMNS)
_PROGRAM_SET = ", ".join(f"{c} = excluded.{c}" for c in _PROGRAM_COLUMNS if c != "external_id")
_PROGRAM_DIFF = "({}) IS DISTINCT FROM ({})".format(
    ", ".join(f"programs.{c}" for c in _PROGRAM_COLUMNS), ", ".join(f"excluded.{c}" for c in _PROGRAM_COLUMNS)
)


async def create_program(conn: AsyncConnection, provider_id: int, data: ProgramData, at: Path = ("input",)) -> int:
    """A new program of the provider (not certified until an operator certifies it)."""
    clean = await validated_program(conn, data, at)
    new_id = (
        await conn.execute(
            text(
                f"INSERT INTO programs (provider_id, {', '.join(_PROGRAM_COLUMNS)})"
                f" VALUES (:provider_id, {_PROGRAM_VALUES})"
                " ON CONFLICT (provider_id, external_id) DO NOTHING RETURNING id"
            ),
            {"provider_id": provider_id, **_program_params(clean)},
        )
    ).scalar()
    if new_id is None:
        raise DomainError.of(ErrorCode.DUPLICATE, "catalog_program_external_duplicate", _at(at, "external_id"))
    return int(new_id)


async def upsert_program(conn: AsyncConnection, provider_id: int, data: ProgramData, at: Path = ("input",)) -> Upserted:
    """Create or update the provider's program with ``data.external_id`` (catalog sync)."""
    if data.external_id is None:
        raise ValueError("upsert_program needs an external_id")
    clean = await validated_program(conn, data, at)
    row = (
        await conn.execute(
            text(
                f"INSERT INTO programs (provider_id, {', '.join(_PROGRAM_COLUMNS)})"
                f" VALUES (:provider_id, {_PROGRAM_VALUES})"
                f" ON CONFLICT (provider_id, external_id) DO UPDATE SET {_PROGRAM_SET}, modified_at = now(),"
                " certified = programs.certified AND programs.municipality = excluded.municipality"
                f" WHERE {_PROGRAM_DIFF} RETURNING id, (xmax = 0) AS created"
            ),
            {"provider_id": provider_id, **_program_params(clean)},
        )
    ).first()
    if row is not None:
        return Upserted(int(row.id), UpsertStatus.CREATED if row.created else UpsertStatus.UPDATED)
    existing = (
        await conn.execute(
            text("SELECT id FROM programs WHERE provider_id = :p AND external_id = :e"),
            {"p": provider_id, "e": clean.external_id},
        )
    ).scalar_one()
    return Upserted(int(existing), UpsertStatus.UNCHANGED)


async def _lock_program(conn: AsyncConnection, program_id: int, field: Path) -> Row[Any]:
    row = (
        await conn.execute(
            text(
                f"SELECT id, provider_id, certified, {', '.join(_PROGRAM_COLUMNS)}"
                " FROM programs WHERE id = :id FOR NO KEY UPDATE"
            ),
            {"id": program_id},
        )
    ).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", field)
    return row


async def update_program(
    conn: AsyncConnection, program_id: int, changes: Mapping[str, Any], at: Path = ("input",)
) -> None:
    """Apply ``changes`` (ProgramData field -> value) and validate the result as a whole."""
    unknown = set(changes) - PROGRAM_FIELDS
    if unknown:
        raise ValueError(f"unknown program fields: {sorted(unknown)}")
    row = await _lock_program(conn, program_id, [*at, "programId"])
    current = ProgramData(**{name: getattr(row, name) for name in _PROGRAM_COLUMNS})
    clean = await validated_program(conn, dataclasses.replace(current, **changes), at)
    if clean.external_id is not None and clean.external_id != current.external_id:
        taken = await conn.execute(
            text("SELECT 1 FROM programs WHERE provider_id = :p AND external_id = :e AND id <> :id"),
            {"p": row.provider_id, "e": clean.external_id, "id": program_id},
        )
        if taken.first() is not None:
            raise DomainError.of(ErrorCode.DUPLICATE, "catalog_program_external_duplicate", _at(at, "external_id"))
    assignments = ", ".join(f"{c} = :{c}" for c in _PROGRAM_COLUMNS)
    # certification is the act of the program's municipality's operator: moving it elsewhere withdraws it
    moved = clean.municipality != current.municipality
    await conn.execute(
        text(
            f"UPDATE programs SET {assignments}, certified = certified AND NOT :moved, modified_at = now()"
            " WHERE id = :id"
        ),
        {"id": program_id, "moved": moved, **_program_params(clean)},
    )


async def set_program_archived(conn: AsyncConnection, program_id: int, archived: bool) -> None:
    """Archived programs leave search (and new applications) but stay readable by id."""
    await conn.execute(
        text("UPDATE programs SET archived = :a, modified_at = now() WHERE id = :id AND archived IS DISTINCT FROM :a"),
        {"a": archived, "id": program_id},
    )


async def certify_program(
    conn: AsyncConnection, principal: Actor, program_id: int, certified: bool, at: Path = ("input",)
) -> None:
    """The operator of the program's municipality certifies it (or withdraws the certificate)."""
    require_role(principal, Role.OPERATOR)
    field = [*at, "programId"]
    row = await _lock_program(conn, program_id, field)
    require_operator_of(principal, row.municipality, field)
    if row.certified != certified:
        await conn.execute(
            text("UPDATE programs SET certified = :c, modified_at = now() WHERE id = :id"),
            {"c": certified, "id": program_id},
        )


# --- groups ------------------------------------------------------------------------------------


def normalize_group(data: GroupData, at: Path = ("input",)) -> GroupData:
    clean = dataclasses.replace(
        data,
        name=_one_line(data.name),
        schedule=_optional_line(data.schedule),
        external_id=None if data.external_id is None else data.external_id.strip(),
    )
    problems: list[Problem] = []
    _printable(problems, clean, at)
    _length(problems, clean.name, GROUP_NAME_LEN, _at(at, "name"))
    if clean.ends_on < clean.starts_on:
        problems.append(Problem(ErrorCode.INVALID, "date_order", _at(at, "ends_on")))
    if not CAPACITY[0] <= clean.capacity <= CAPACITY[1]:
        problems.append(
            Problem(ErrorCode.INVALID, "catalog_capacity_range", _at(at, "capacity"), min=CAPACITY[0], max=CAPACITY[1])
        )
    if not 0 <= clean.price <= MAX_PRICE_KOPECKS:
        problems.append(Problem(ErrorCode.INVALID, "catalog_price_range", _at(at, "price"), max=MAX_PRICE_KOPECKS))
    _length(problems, clean.schedule, SCHEDULE_LEN, _at(at, "schedule"))
    _external_id(problems, clean.external_id, _at(at, "external_id"))
    if problems:
        raise DomainError(*problems)
    return clean


def _group_params(data: GroupData) -> dict[str, Any]:
    return {name: getattr(data, name) for name in _GROUP_COLUMNS}


_GROUP_VALUES = ", ".join(f":{c}" for c in _GROUP_COLUMNS)
_GROUP_SET = ", ".join(f"{c} = excluded.{c}" for c in _GROUP_COLUMNS if c != "external_id")
_GROUP_DIFF = "({}) IS DISTINCT FROM ({})".format(
    ", ".join(f"groups.{c}" for c in _GROUP_COLUMNS), ", ".join(f"excluded.{c}" for c in _GROUP_COLUMNS)
)


async def create_group(conn: AsyncConnection, program_id: int, data: GroupData, at: Path = ("input",)) -> int:
    clean = normalize_group(data, at)
    new_id = (
        await conn.execute(
            text(
                f"INSERT INTO groups (program_id, {', '.join(_GROUP_COLUMNS)}) VALUES (:program_id, {_GROUP_VALUES})"
                " ON CONFLICT (program_id, external_id) DO NOTHING RETURNING id"
            ),
            {"program_id": program_id, **_group_params(clean)},
        )
    ).scalar()
    if new_id is None:
        raise DomainError.of(ErrorCode.DUPLICATE, "catalog_group_external_duplicate", _at(at, "external_id"))
    return int(new_id)


async def upsert_group(conn: AsyncConnection, program_id: int, data: GroupData, at: Path = ("input",)) -> Upserted:
    """Create or update the program's group with ``data.external_id``; capacity never below seats taken."""
    if data.external_id is None:
        raise ValueError("upsert_group needs an external_id")
    clean = normalize_group(data, at)
    row = (
        await conn.execute(
            text(
                f"INSERT INTO groups (program_id, {', '.join(_GROUP_COLUMNS)}) VALUES (:program_id, {_GROUP_VALUES})"
                f" ON CONFLICT (program_id, external_id) DO UPDATE SET {_GROUP_SET}, modified_at = now()"
                f" WHERE groups.seats_taken <= excluded.capacity AND {_GROUP_DIFF}"
                " RETURNING id, (xmax = 0) AS created"
            ),
            {"program_id": program_id, **_group_params(clean)},
        )
    ).first()
    if row is not None:
        return Upserted(int(row.id), UpsertStatus.CREATED if row.created else UpsertStatus.UPDATED)
    existing = (
        await conn.execute(
            text("SELECT id, seats_taken FROM groups WHERE program_id = :p AND external_id = :e"),
            {"p": program_id, "e": clean.external_id},
        )
    ).one()
    if existing.seats_taken > clean.capacity:
        raise DomainError.of(
            ErrorCode.INVALID, "catalog_capacity_below_taken", _at(at, "capacity"), taken=existing.seats_taken
        )
    return Upserted(int(existing.id), UpsertStatus.UNCHANGED)


async def _lock_group(conn: AsyncConnection, group_id: int, field: Path) -> Row[Any]:
    row = (
        await conn.execute(
            text(
                f"SELECT g.id, g.program_id, g.seats_taken, p.provider_id, {', '.join('g.' + c for c in _GROUP_COLUMNS)}"
                " FROM groups g JOIN programs p ON p.id = g.program_id WHERE g.id = :id FOR NO KEY UPDATE OF g"
            ),
            {"id": group_id},
        )
    ).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", field)
    return row


async def update_group(conn: AsyncConnection, group_id: int, changes: Mapping[str, Any], at: Path = ("input",)) -> None:
    """Apply ``changes`` (GroupData field -> value); capacity cannot go below the seats taken."""
    unknown = set(changes) - GROUP_FIELDS
    if unknown:
        raise ValueError(f"unknown group fields: {sorted(unknown)}")
    row = await _lock_group(conn, group_id, [*at, "groupId"])
    current = GroupData(**{name: getattr(row, name) for name in _GROUP_COLUMNS})
    clean = normalize_group(dataclasses.replace(current, **changes), at)
    if clean.capacity < row.seats_taken:
        raise DomainError.of(
            ErrorCode.INVALID, "catalog_capacity_below_taken", _at(at, "capacity"), taken=row.seats_taken
        )
    if clean.external_id is not None and clean.external_id != current.external_id:
        taken = await conn.execute(
            text("SELECT 1 FROM groups WHERE program_id = :p AND external_id = :e AND id <> :id"),
            {"p": row.program_id, "e": clean.external_id, "id": group_id},
        )
        if taken.first() is not None:
            raise DomainError.of(ErrorCode.DUPLICATE, "catalog_group_external_duplicate", _at(at, "external_id"))
    assignments = ", ".join(f"{c} = :{c}" for c in _GROUP_COLUMNS)
    await conn.execute(
        text(f"UPDATE groups SET {assignments}, modified_at = now() WHERE id = :id"),
        {"id": group_id, **_group_params(clean)},
    )


async def set_group_enrollment(conn: AsyncConnection, group_id: int, open_: bool) -> None:
    """Open or close a group for new applications (running contracts are not affected)."""
    await conn.execute(
        text(
            "UPDATE groups SET enrollment_open = :o, modified_at = now()"
            " WHERE id = :id AND enrollment_open IS DISTINCT FROM :o"
        ),
        {"o": open_, "id": group_id},
    )


async def set_group_archived(conn: AsyncConnection, group_id: int, archived: bool) -> None:
    """Archived groups leave the catalog and take no applications; running contracts go on."""
    await conn.execute(
        text("UPDATE groups SET archived = :a, modified_at = now() WHERE id = :id AND archived IS DISTINCT FROM :a"),
        {"a": archived, "id": group_id},
    )


async def archive_groups_except(conn: AsyncConnection, program_id: int, keep_external_ids: Sequence[str]) -> int:
    """Archive the program's synced groups missing from a full feed; returns how many."""
    rows = await conn.execute(
        text(
            "UPDATE groups SET archived = true, modified_at = now()"
            " WHERE program_id = :p AND external_id IS NOT NULL AND NOT archived"
            " AND NOT (external_id = ANY(:keep)) RETURNING id"
        ),
        {"p": program_id, "keep": list(keep_external_ids)},
    )
    return len(rows.all())
