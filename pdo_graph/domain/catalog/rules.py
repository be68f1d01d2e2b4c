"""The catalog's rules that need no database: what a provider, a program and a group may be.

Each ``normalize_*`` cleans the text (one line, trimmed) and checks every rule at once, raising a
:class:`DomainError` whose problems carry the domain's field names (``["startsOn"]``); callers put
them under their own paths (a mutation under ``["input"]``, a pushed row under its index, a feed
item under ``["data"]``). The capacity rule, which needs the seats already taken, is here too.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pdo_graph.db.tables import DIRECTIONS, FUNDING_KINDS
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem, field
from pdo_graph.domain.identifiers import is_valid_inn, normalize_digits
from pdo_graph.domain.money import MAX_PRICE_KOPECKS, add_months

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
GROUP_YEARS = (2000, 2100)
GROUP_MONTHS_MAX = 36
FORMS = ("очная", "очно-заочная", "заочная", "дистанционная")


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
    funding_kind: str = "CERTIFICATE"  # CERTIFICATE (ПФ), MUNICIPAL (free), PAID (the family pays all)
    for_disabilities: bool = False  # suits children with disabilities (ОВЗ)


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


def program_from(source: object, **values: Any) -> ProgramData:
    """A program from any object with ProgramData's field names (an input, a spec); ``values`` win."""
    return ProgramData(**{**{n: getattr(source, n) for n in PROGRAM_COLUMNS if hasattr(source, n)}, **values})


def group_from(source: object, **values: Any) -> GroupData:
    """A group from any object with GroupData's field names; ``values`` win."""
    return GroupData(**{**{n: getattr(source, n) for n in GROUP_COLUMNS if hasattr(source, n)}, **values})


PROGRAM_COLUMNS = tuple(f.name for f in dataclasses.fields(ProgramData))
GROUP_COLUMNS = tuple(f.name for f in dataclasses.fields(GroupData))
PROGRAM_FIELDS = frozenset(PROGRAM_COLUMNS)
GROUP_FIELDS = frozenset(GROUP_COLUMNS)


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _optional_line(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = _one_line(value)
    return cleaned or None


def _length(problems: list[Problem], value: str | None, bounds: tuple[int, int], name: str) -> None:
    if value is not None and not bounds[0] <= len(value) <= bounds[1]:
        problems.append(Problem(ErrorCode.INVALID, "text_length", field(name), min=bounds[0], max=bounds[1]))


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_TEXT_FIELDS: dict[type, tuple[str, ...]] = {}


def _printable(problems: list[Problem], data: object) -> None:
    """Text fields must not carry NUL or other control characters (line breaks and tabs aside)."""
    names = _TEXT_FIELDS.get(type(data))
    if names is None:
        names = _TEXT_FIELDS[type(data)] = tuple(f.name for f in dataclasses.fields(data))  # type: ignore[arg-type]
    for name in names:
        value = getattr(data, name)
        if isinstance(value, str) and _CONTROL.search(value):
            problems.append(Problem(ErrorCode.INVALID, "catalog_text_invalid", field(name)))


def _external_id(problems: list[Problem], value: str | None) -> None:
    if value is not None and not 1 <= len(value) <= EXTERNAL_ID_MAX:
        problems.append(
            Problem(ErrorCode.INVALID, "catalog_external_id_length", field("external_id"), max=EXTERNAL_ID_MAX)
        )


def _raise(problems: list[Problem]) -> None:
    if problems:
        raise DomainError(*problems)


# --- providers ---------------------------------------------------------------------------------


def normalize_provider(data: ProviderData) -> ProviderData:
    """Clean the text and check the name, the ИНН checksum and the address; raises DomainError."""
    clean = ProviderData(
        name=_one_line(data.name),
        inn=normalize_digits(data.inn),
        municipality=data.municipality.strip(),
        address=_optional_line(data.address),
    )
    problems: list[Problem] = []
    _printable(problems, clean)
    _length(problems, clean.name, PROVIDER_NAME_LEN, "name")
    if not is_valid_inn(clean.inn):
        problems.append(Problem(ErrorCode.INVALID, "catalog_inn_invalid", field("inn")))
    _length(problems, clean.address, ADDRESS_LEN, "address")
    _raise(problems)
    return clean


# --- programs ----------------------------------------------------------------------------------


def normalize_program(data: ProgramData) -> ProgramData:
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
    _printable(problems, clean)
    _length(problems, clean.title, TITLE_LEN, "title")
    _length(problems, clean.description, DESCRIPTION_LEN, "description")
    if clean.direction not in DIRECTIONS:
        problems.append(Problem(ErrorCode.INVALID, "catalog_direction_unknown", field("direction")))
    ages_ok = True
    for name in ("min_age", "max_age"):
        if not AGES[0] <= getattr(clean, name) <= AGES[1]:
            problems.append(Problem(ErrorCode.INVALID, "catalog_age_range", field(name), min=AGES[0], max=AGES[1]))
            ages_ok = False
    if ages_ok and clean.min_age > clean.max_age:
        problems.append(Problem(ErrorCode.INVALID, "catalog_age_order", field("max_age")))
    if clean.normative_cost is not None and not 0 <= clean.normative_cost <= MAX_PRICE_KOPECKS:
        problems.append(
            Problem(ErrorCode.INVALID, "catalog_normative_range", field("normative_cost"), max=MAX_PRICE_KOPECKS)
        )
    if clean.hours is not None and not HOURS[0] <= clean.hours <= HOURS[1]:
        problems.append(Problem(ErrorCode.INVALID, "catalog_hours_range", field("hours"), min=HOURS[0], max=HOURS[1]))
    if clean.funding_kind not in FUNDING_KINDS:
        problems.append(Problem(ErrorCode.INVALID, "catalog_funding_kind_unknown", field("funding_kind")))
    if clean.form not in FORMS:
        problems.append(Problem(ErrorCode.INVALID, "catalog_form_unknown", field("form"), forms=", ".join(FORMS)))
    _length(problems, clean.address, ADDRESS_LEN, "address")
    if not _coordinates_ok(clean.latitude, clean.longitude):
        name = "latitude" if clean.latitude is None or not -90 <= clean.latitude <= 90 else "longitude"
        problems.append(Problem(ErrorCode.INVALID, "catalog_coordinates", field(name)))
    _external_id(problems, clean.external_id)
    _raise(problems)
    return clean


def _coordinates_ok(lat: float | None, lon: float | None) -> bool:
    if lat is None and lon is None:
        return True
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    return -90 <= lat <= 90 and -180 <= lon <= 180


# --- groups ------------------------------------------------------------------------------------


def last_day_of_run(starts_on: date) -> date:
    """The latest last day of a group starting on ``starts_on``: it runs at most GROUP_MONTHS_MAX months
    (a day that month lacks, 29 February, runs on into the next month)."""
    return add_months(starts_on, GROUP_MONTHS_MAX) + timedelta(days=starts_on.day - 2)


def _dates(problems: list[Problem], starts_on: date, ends_on: date) -> None:
    in_range = True
    for name, day in (("starts_on", starts_on), ("ends_on", ends_on)):
        if not GROUP_YEARS[0] <= day.year <= GROUP_YEARS[1]:
            problems.append(
                Problem(ErrorCode.INVALID, "catalog_date_range", field(name), min=GROUP_YEARS[0], max=GROUP_YEARS[1])
            )
            in_range = False
    if ends_on < starts_on:
        problems.append(Problem(ErrorCode.INVALID, "date_order", field("ends_on")))
    elif in_range and ends_on > last_day_of_run(starts_on):
        problems.append(Problem(ErrorCode.INVALID, "catalog_group_too_long", field("ends_on"), max=GROUP_MONTHS_MAX))


def normalize_group(data: GroupData) -> GroupData:
    """Clean the text and check every rule that needs no database; raises DomainError."""
    clean = dataclasses.replace(
        data,
        name=_one_line(data.name),
        schedule=_optional_line(data.schedule),
        external_id=None if data.external_id is None else data.external_id.strip(),
    )
    problems: list[Problem] = []
    _printable(problems, clean)
    _length(problems, clean.name, GROUP_NAME_LEN, "name")
    _dates(problems, clean.starts_on, clean.ends_on)
    if not CAPACITY[0] <= clean.capacity <= CAPACITY[1]:
        problems.append(
            Problem(ErrorCode.INVALID, "catalog_capacity_range", field("capacity"), min=CAPACITY[0], max=CAPACITY[1])
        )
    if not 0 <= clean.price <= MAX_PRICE_KOPECKS:
        problems.append(Problem(ErrorCode.INVALID, "catalog_price_range", field("price"), max=MAX_PRICE_KOPECKS))
    _length(problems, clean.schedule, SCHEDULE_LEN, "schedule")
    _external_id(problems, clean.external_id)
    _raise(problems)
    return clean


def capacity_problem(capacity: int, seats_taken: int, under: Sequence[str] = ()) -> Problem | None:
    """A group never has fewer seats than are taken (the database's CHECK says the same)."""
    if seats_taken > capacity:
        return Problem(ErrorCode.INVALID, "catalog_capacity_below_taken", field("capacity", under), taken=seats_taken)
    return None


def duplicate_groups(groups: Sequence[GroupData]) -> list[Problem]:
    """A program lists each of its groups' external ids once (every repeat is refused)."""
    seen: set[str] = set()
    problems = []
    for j, group in enumerate(groups):
        external_id = None if group.external_id is None else group.external_id.strip()
        if external_id is None:
            continue
        if external_id in seen:
            problems.append(
                Problem(
                    ErrorCode.DUPLICATE, "catalog_group_external_duplicate", field("external_id", ("groups", str(j)))
                )
            )
        seen.add(external_id)
    return problems
