"""A provider's push of its catalog (``catalogUpsert``): the rows, their results, the policy."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import cast

import strawberry
from strawberry.types import Info

from pdo_graph.domain.catalog import ItemResult, Outcome, ProgramItem
from pdo_graph.domain.errors import ErrorCode, Problem
from pdo_graph.integrations import push as push_service
from pdo_graph.schema.base import SafeInt, UserError, describe_values, user_errors
from pdo_graph.schema.catalog import Direction, Program, ProgramFundingKind, group_data, program_data
from pdo_graph.schema.context import Context

ErrorPolicy = strawberry.enum(
    push_service.ErrorPolicy,
    name="ErrorPolicy",
    description="REJECT_EVERYTHING: all rows or none. REJECT_FAILED_ROWS: refused rows are skipped, the rest saved.",
)
describe_values(
    ErrorPolicy,
    {
        "REJECT_EVERYTHING": "All rows or none: one refused row rolls the whole call back.",
        "REJECT_FAILED_ROWS": "Refused rows are skipped, the rest are saved.",
    },
)
# a pushed row's outcome: the catalog's one Outcome, less ARCHIVED (a push never deletes)
_ROW_OUTCOMES = cast(
    type[StrEnum], StrEnum("RowOutcome", [(o.name, o.value) for o in Outcome if o is not Outcome.ARCHIVED])
)
CatalogUpsertRowStatus = strawberry.enum(
    _ROW_OUTCOMES,
    name="CatalogUpsertRowStatus",
    description=(
        "What happened to a row: CREATED, UPDATED, UNCHANGED, REJECTED (see its userErrors), NOT_SAVED (valid, but"
        " rolled back because other rows were refused under REJECT_EVERYTHING)."
    ),
)
describe_values(
    CatalogUpsertRowStatus,
    {
        "CREATED": "A new program (with its groups) was saved.",
        "UPDATED": "The program or its groups changed.",
        "UNCHANGED": "Nothing differed from what was saved.",
        "REJECTED": "Refused: see the row's userErrors; nothing of it was saved.",
        "NOT_SAVED": "Valid, but rolled back because other rows were refused under REJECT_EVERYTHING.",
    },
)


@strawberry.input(description="A group of a pushed program, keyed by the provider's external id.")
class CatalogGroupInput:
    external_id: str = strawberry.field(description="The provider's id of the group (unique within the program).")
    name: str = strawberry.field(description="Name.")
    starts_on: date = strawberry.field(description="First day.")
    ends_on: date = strawberry.field(description="Last day.")
    capacity: int = strawberry.field(description="Seats (never below the seats already taken).")
    price: SafeInt = strawberry.field(description="Kopecks for the whole run (new applications only).")
    enrollment_open: bool | None = strawberry.field(default=True, description="Accept applications (null: true).")
    schedule: str | None = strawberry.field(default=None, description="Schedule as text.")


@strawberry.input(description="A pushed program with ALL its groups: synced groups not listed are archived.")
class CatalogProgramInput:
    external_id: str = strawberry.field(description="The provider's id of the program (unique within the provider).")
    title: str = strawberry.field(description="Title, 3..200 characters.")
    description: str = strawberry.field(description="Description, 10..5000 characters.")
    direction: Direction = strawberry.field(description="Direction.")
    min_age: int = strawberry.field(description="Minimum age in years, inclusive.")
    max_age: int = strawberry.field(description="Maximum age in years, inclusive.")
    municipality: str = strawberry.field(description="Municipality code where it runs.")
    archived: bool | None = strawberry.field(
        default=False, description="True archives it (hidden from search); null: false."
    )
    groups: list[CatalogGroupInput] = strawberry.field(description="Every group of the program (up to 200).")
    normative_cost: SafeInt | None = strawberry.field(default=None, description="Normative cost in kopecks.")
    hours: int | None = strawberry.field(default=None, description="Academic hours.")
    form: str = strawberry.field(default="очная", description="Form of study.")
    address: str | None = strawberry.field(default=None, description="Where classes take place.")
    latitude: float | None = strawberry.field(default=None, description="Latitude (with longitude).")
    longitude: float | None = strawberry.field(default=None, description="Longitude (with latitude).")
    funding_kind: ProgramFundingKind | None = strawberry.field(
        default=ProgramFundingKind.CERTIFICATE,
        description="CERTIFICATE (paid from certificates), MUNICIPAL (free) or PAID; null: CERTIFICATE.",
    )
    for_disabilities: bool | None = strawberry.field(
        default=False, description="Suits children with disabilities (ОВЗ); null: false."
    )

    def item(self) -> ProgramItem:
        return ProgramItem(program_data(self), tuple(group_data(g) for g in self.groups))


@strawberry.input(description="Provider: up to 500 programs with their groups, keyed by the provider's external ids.")
class CatalogUpsertInput:
    items: list[CatalogProgramInput] = strawberry.field(description="The programs (at most 500).")
    error_policy: ErrorPolicy | None = strawberry.field(  # type: ignore[valid-type]
        default=push_service.ErrorPolicy.REJECT_EVERYTHING,
        description="What to do when some rows are refused (null: REJECT_EVERYTHING).",
    )


@strawberry.type(description="The result of one pushed row.")
class CatalogUpsertRowResult:
    external_id: str = strawberry.field(description="The row's external id.")
    status: CatalogUpsertRowStatus = strawberry.field(description="What happened to it.")  # type: ignore[valid-type]
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (paths into the input).")
    program_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, index: int, item: CatalogProgramInput, result: ItemResult, lang: str) -> CatalogUpsertRowResult:
        """One row's result; the row's problems (its own field names) go under its input path."""
        if result.problems:  # a problem of the row as a whole names the row
            at = ("input", "items", str(index))
            errors = user_errors(
                [Problem(p.code, p.key, [*at, *(p.field or ())], **p.params) for p in result.problems], lang
            )
        elif result.outcome is Outcome.NOT_SAVED:
            errors = user_errors([Problem(ErrorCode.INVALID, "push_not_saved")], lang)
        else:
            errors = []
        return cls(
            external_id=item.external_id.strip(),
            status=CatalogUpsertRowStatus(result.outcome.value),
            user_errors=errors,
            program_id=result.program_id,
        )

    @strawberry.field(description="The program as saved; null when the row was not saved.")
    async def program(self, info: Info[Context, None]) -> Program | None:
        return None if self.program_id is None else await Program.load(info.context, self.program_id)


@strawberry.type(description="Result of catalogUpsert.")
class CatalogUpsertPayload:
    results: list[CatalogUpsertRowResult] = strawberry.field(description="One result per row, in input order.")
    user_errors: list[UserError] = strawberry.field(description="Refusals of the call as a whole.")
