"""What the write path takes and gives back for a program with its groups: the item, the one
``Outcome`` of a write, and the item's rules that need no database (``check_item``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pdo_graph.domain.catalog.rules import GroupData, ProgramData, duplicate_groups, normalize_group, normalize_program
from pdo_graph.domain.errors import DomainError, Problem


class Outcome(StrEnum):
    """What a write did to one program (with its groups): the one vocabulary of every write path."""

    CREATED = "CREATED"
    UPDATED = "UPDATED"
    UNCHANGED = "UNCHANGED"
    ARCHIVED = "ARCHIVED"  # a deleted item: the program and its synced groups left the catalog
    REJECTED = "REJECTED"  # refused: see the problems; nothing of it was written
    NOT_SAVED = "NOT_SAVED"  # valid, but not saved because other items were refused (all or nothing)


@dataclass(frozen=True, slots=True)
class ItemResult:
    outcome: Outcome
    program_id: int | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class ProgramItem:
    """A program keyed by its external id with the complete list of its synced groups (each keyed by
    its external id too): synced groups it does not list are archived."""

    program: ProgramData
    groups: tuple[GroupData, ...] = ()


@dataclass(frozen=True, slots=True)
class Checked:
    """An item that passed every rule needing no database: its program and groups, cleaned."""

    program: ProgramData
    groups: tuple[GroupData, ...]


def check_item(item: ProgramItem) -> Checked | ItemResult:
    """The rules that need no database (pure: may run ahead of the writes, in another thread)."""
    if item.program.external_id is None or any(g.external_id is None for g in item.groups):
        raise ValueError("every program and group of an item needs an external_id")
    problems = duplicate_groups(item.groups)
    program = item.program
    try:
        program = normalize_program(item.program)
    except DomainError as exc:
        problems += exc.problems
    groups: list[GroupData] = []
    for j, group in enumerate(item.groups):
        try:
            groups.append(normalize_group(group))
        except DomainError as exc:
            problems += [p.under(("groups", str(j))) for p in exc.problems]
    if problems:
        return ItemResult(Outcome.REJECTED, problems=tuple(problems))
    return Checked(program, tuple(groups))
