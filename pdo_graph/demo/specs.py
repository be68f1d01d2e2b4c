"""What the demo generator produces: frozen specs a loader turns into rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class ChildSpec:
    full_name: str  # "Фамилия Имя Отчество"
    birth_date: date
    snils: str  # 11 digits with a valid checksum
    municipality: str  # two-digit municipality code


@dataclass(frozen=True)
class Family:
    subject: str  # token subject of the guardian, e.g. "guardian-001"
    guardian_name: str  # "Фамилия Имя Отчество"
    children: list[ChildSpec]
    municipality: str  # where the family lives (all its children share it)


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    inn: str  # 10 digits for organisations, 12 for an individual entrepreneur (ИП)
    municipality: str
    address: str  # "ул. Садовая, д. 14"
    latitude: float
    longitude: float
    directions: tuple[str, ...]  # the provider's profile: directions it runs programs in
    themes: tuple[str, ...] = ()  # narrower profile (theme keys); empty means any theme of `directions`


@dataclass(frozen=True)
class GroupSpec:
    name: str  # "Группа 1 (пн, ср 16:00)"
    starts_on: date
    ends_on: date
    schedule: str  # "пн, ср 16:00–17:40"
    capacity: int  # 8..25
    price: int  # kopecks for the whole run, 300_000..4_000_000, a multiple of 10_000 (100 ₽)
    enrollment_open: bool
    full: bool  # the loader should mark all seats taken


@dataclass(frozen=True)
class ProgramSpec:
    provider_index: int  # index into the providers list passed to `programs`
    title: str
    description: str
    direction: str  # one of DIRECTIONS
    min_age: int  # years, 0..18
    max_age: int
    hours: int  # 36..216
    form: str  # "очная" or "очно-заочная"
    municipality: str
    address: str
    latitude: float
    longitude: float
    normative_cost: int | None  # kopecks
    certified: bool
    groups: list[GroupSpec] = field(default_factory=list)


@dataclass(frozen=True)
class DemoContent:
    municipalities: list[tuple[str, str]]
    families: list[Family]
    providers: list[ProviderSpec]
    programs: list[ProgramSpec]
