"""A reference model of one provider's catalog, in memory: what a write of programs with all their
groups (and of deleted programs) must do, written as plainly as possible.

The cleaning and the rules needing no database are the domain's own (``normalize_program`` /
``normalize_group``); the model owns the rest: which refusals an item gets and in which order, what is
created, updated, left alone or archived, certification, seats taken, and each item's outcome.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pdo_graph.domain.catalog import GroupData, ProgramData, normalize_group, normalize_program
from pdo_graph.domain.errors import DomainError, ErrorCode

KNOWN_MUNICIPALITIES = frozenset({"01", "02", "03"})
PROGRAM_COLUMNS = tuple(f.name for f in dataclasses.fields(ProgramData) if f.name not in ("external_id", "archived"))
GROUP_COLUMNS = tuple(f.name for f in dataclasses.fields(GroupData) if f.name not in ("external_id", "archived"))

Problem = tuple[str, str, tuple[str, ...], tuple[tuple[str, Any], ...]]  # code, key, field, params


@dataclass
class Group:
    data: GroupData
    seats_taken: int = 0


@dataclass
class Program:
    data: ProgramData
    certified: bool = False
    groups: dict[str, Group] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    outcome: str  # CREATED, UPDATED, UNCHANGED, ARCHIVED, REJECTED
    program: str | None  # the program's external id when it was written
    problems: tuple[Problem, ...] = ()


def _problems(exc: DomainError, prefix: tuple[str, ...] = ()) -> list[Problem]:
    return [
        (str(p.code), p.key, (*prefix, *(str(x) for x in p.field or ())), tuple(sorted(p.params.items())))
        for p in exc.problems
    ]


class CatalogModel:
    def __init__(self) -> None:
        self.programs: dict[str, Program] = {}

    # -- between writes -------------------------------------------------------------------------

    def take_seats(self, program: str, group: str, seats: int) -> None:
        found = self.programs.get(program)
        if found is not None and group in found.groups:
            g = found.groups[group]
            g.seats_taken = min(seats, g.data.capacity)

    def certify(self, program: str) -> None:
        if program in self.programs:
            self.programs[program].certified = True

    # -- writes ---------------------------------------------------------------------------------

    def refusals(self, program: ProgramData, groups: tuple[GroupData, ...]) -> list[Problem]:
        """Every rule needing no database at once; then the municipality; then the seats taken."""
        problems: list[Problem] = []
        try:
            clean = normalize_program(program)
        except DomainError as exc:
            problems += _problems(exc)
            clean = None
        seen: set[str | None] = set()
        cleaned: list[GroupData] = []
        for j, group in enumerate(groups):
            external_id = None if group.external_id is None else group.external_id.strip()
            if external_id in seen:
                field = ("groups", str(j), "externalId")
                problems.append((str(ErrorCode.DUPLICATE), "catalog_group_external_duplicate", field, ()))
            seen.add(external_id)
            try:
                cleaned.append(normalize_group(group))
            except DomainError as exc:
                problems += _problems(exc, ("groups", str(j)))
        if problems:
            return problems
        assert clean is not None
        if clean.municipality not in KNOWN_MUNICIPALITIES:
            params = (("code", clean.municipality),)
            return [(str(ErrorCode.INVALID), "municipality_unknown", ("municipality",), params)]
        existing = self.programs.get(clean.external_id or "")
        for j, group in enumerate(cleaned):
            taken = (
                existing.groups[group.external_id].seats_taken
                if existing and group.external_id in existing.groups
                else 0
            )
            if taken > group.capacity:
                field = ("groups", str(j), "capacity")
                problems.append((str(ErrorCode.INVALID), "catalog_capacity_below_taken", field, (("taken", taken),)))
        return problems

    def upsert(self, program: ProgramData, groups: tuple[GroupData, ...]) -> Result:
        problems = self.refusals(program, groups)
        if problems:
            return Result("REJECTED", None, tuple(sorted(problems)))
        clean = normalize_program(program)
        external_id = clean.external_id
        assert external_id is not None
        existing = self.programs.get(external_id)
        if existing is None:
            outcome = "CREATED"
            existing = self.programs[external_id] = Program(clean)
        else:
            changed = existing.data != clean
            if existing.data.municipality != clean.municipality or clean.funding_kind != "CERTIFICATE":
                existing.certified = False
            existing.data = clean
            outcome = "UPDATED" if changed else "UNCHANGED"
        listed = set()
        for group in (normalize_group(g) for g in groups):
            assert group.external_id is not None
            listed.add(group.external_id)
            current = existing.groups.get(group.external_id)
            if current is None:
                existing.groups[group.external_id] = Group(group)
            elif current.data != group:
                current.data = group
            else:
                continue
            if outcome == "UNCHANGED":
                outcome = "UPDATED"
        for external, current in existing.groups.items():
            if external not in listed and not current.data.archived:
                current.data = dataclasses.replace(current.data, archived=True)
                if outcome == "UNCHANGED":
                    outcome = "UPDATED"
        return Result(outcome, external_id)

    def archive(self, external_id: str) -> Result:
        existing = self.programs.get(external_id)
        if existing is None:
            return Result("UNCHANGED", None)
        changed = not existing.data.archived
        existing.data = dataclasses.replace(existing.data, archived=True)
        for group in existing.groups.values():
            if not group.data.archived:
                group.data = dataclasses.replace(group.data, archived=True)
                changed = True
        return Result("ARCHIVED" if changed else "UNCHANGED", None)

    # -- the rows, as tests/catalog/test_write_paths.py reads them from the database ------------

    def rows(self) -> dict[str, tuple[Any, ...]]:
        out: dict[str, tuple[Any, ...]] = {}
        for external_id, program in self.programs.items():
            data = program.data
            out[external_id] = (*(getattr(data, c) for c in PROGRAM_COLUMNS), data.archived, program.certified)
            for group_id, group in program.groups.items():
                g = group.data
                out[f"{external_id}/{group_id}"] = (
                    *(getattr(g, c) for c in GROUP_COLUMNS),
                    g.archived,
                    group.seats_taken,
                )
        return out
