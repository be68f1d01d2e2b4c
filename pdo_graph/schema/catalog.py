"""The catalog: providers, programs and groups, and the inputs and payloads of their upkeep."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from pdo_graph.domain import catalog
from pdo_graph.domain.access import can_act_for_provider
from pdo_graph.ids import encode_id
from pdo_graph.reads.catalog import (
    GROUP,
    GROUPS_OF_PROGRAM,
    PROGRAM,
    PROVIDER,
    GroupRow,
    ProgramRow,
    ProviderRow,
)
from pdo_graph.schema.base import (
    After,
    Connection,
    First,
    Money,
    Node,
    SafeInt,
    UserError,
    build_connection,
    describe_values,
    existing,
    money,
    related,
)
from pdo_graph.schema.context import Context
from pdo_graph.schema.paging import page_args

if TYPE_CHECKING:
    from pdo_graph.schema.navigator import ProgramConnection
    from pdo_graph.schema.reviews import Review


@strawberry.enum(description="One of the six directions of supplementary education.")
class Direction(Enum):
    TECHNICAL = "TECHNICAL"
    NATURAL_SCIENCE = "NATURAL_SCIENCE"
    PHYSICAL_SPORTS = "PHYSICAL_SPORTS"
    ARTS = "ARTS"
    TOURISM_LOCAL_HISTORY = "TOURISM_LOCAL_HISTORY"
    SOCIAL_HUMANITARIAN = "SOCIAL_HUMANITARIAN"


describe_values(
    Direction,
    {
        "TECHNICAL": "Техническая: robotics, programming, engineering.",
        "NATURAL_SCIENCE": "Естественнонаучная: biology, chemistry, ecology.",
        "PHYSICAL_SPORTS": "Физкультурно-спортивная: sports and physical education.",
        "ARTS": "Художественная: music, dance, fine arts, theatre.",
        "TOURISM_LOCAL_HISTORY": "Туристско-краеведческая: tourism and local history.",
        "SOCIAL_HUMANITARIAN": "Социально-гуманитарная: languages, social and humanities studies.",
    },
)


@strawberry.enum(description='How a program is paid for (domain.md, "Program kinds and certificate kinds").')
class ProgramFundingKind(Enum):
    CERTIFICATE = "CERTIFICATE"
    MUNICIPAL = "MUNICIPAL"
    PAID = "PAID"


describe_values(
    ProgramFundingKind,
    {
        "CERTIFICATE": "Персонифицированное финансирование: paid from certificates (funded ones only); must be certified.",
        "MUNICIPAL": "Значимая / бюджетная: free, funded by the municipal task; enrolling takes a seat and no money.",
        "PAID": "Платная: the family pays the whole price; no certificate money.",
    },
)


@strawberry.type(description="An organisation providing programs (поставщик образовательных услуг).")
class Provider(Node):
    name: str = strawberry.field(description="Name of the organisation.")
    inn: str = strawberry.field(description="ИНН (taxpayer number).")
    municipality: str = strawberry.field(description="Municipality code.")
    address: str | None = strawberry.field(description="Postal address.")
    pk: strawberry.Private[int]

    rows = PROVIDER
    public = True

    @classmethod
    def from_row(cls, r: ProviderRow) -> Provider:
        return cls(
            id=strawberry.ID(encode_id("Provider", r.id)),
            name=r.name,
            inn=r.inn,
            municipality=r.municipality,
            address=r.address,
            pk=r.id,
        )

    @strawberry.field(
        description="The provider's programs by id; archived ones are listed for the provider itself only."
    )
    async def programs(
        self, info: Info[Context, None], first: First, after: After = None
    ) -> Annotated[ProgramConnection, strawberry.lazy("pdo_graph.schema.navigator")]:
        from pdo_graph.schema.navigator import program_connection

        own = can_act_for_provider(info.context.actor, self.pk)
        return await program_connection(info, first, after, None, None, None, provider_pk=self.pk, include_archived=own)


@strawberry.type(description="An educational program of a provider.")
class Program(Node):
    title: str = strawberry.field(description="Title.")
    description: str = strawberry.field(description="Description.")
    direction: Direction = strawberry.field(description="Direction.")
    min_age: int = strawberry.field(description="Minimum age in years, inclusive.")
    max_age: int = strawberry.field(description="Maximum age in years, inclusive.")
    hours: int | None = strawberry.field(description="Academic hours of the program.")
    form: str = strawberry.field(description="Form of study (очная, очно-заочная...).")
    certified: bool = strawberry.field(description="Only certified programs may be paid from a certificate.")
    funding_kind: ProgramFundingKind = strawberry.field(
        description="How the program is paid for: from certificates, free (municipal) or paid by the family."
    )
    for_disabilities: bool = strawberry.field(
        description="The provider says the program suits children with disabilities (ОВЗ)."
    )
    archived: bool = strawberry.field(description="Archived programs are hidden from search.")
    municipality: str = strawberry.field(description="Municipality code.")
    address: str | None = strawberry.field(description="Where classes take place.")
    latitude: float | None = strawberry.field(description="Latitude of the address.")
    longitude: float | None = strawberry.field(description="Longitude of the address.")
    normative_cost: Money | None = strawberry.field(description="Normative cost (нормативная стоимость), if set.")
    external_id: str | None = strawberry.field(description="The provider's own id of the program (sync).")
    rating: float | None = strawberry.field(description="Average rating 1..5; null until rated.")
    review_count: int = strawberry.field(description="Number of reviews.")
    pk: strawberry.Private[int]
    provider_id: strawberry.Private[int]

    rows = PROGRAM
    public = True

    @classmethod
    def from_row(cls, r: ProgramRow) -> Program:
        return cls(
            id=strawberry.ID(encode_id("Program", r.id)),
            title=r.title,
            description=r.description,
            direction=Direction(r.direction),
            min_age=r.min_age,
            max_age=r.max_age,
            hours=r.hours,
            form=r.form,
            certified=r.certified,
            funding_kind=ProgramFundingKind(r.funding_kind),
            for_disabilities=r.for_disabilities,
            archived=r.archived,
            municipality=r.municipality,
            address=r.address,
            latitude=r.latitude,
            longitude=r.longitude,
            normative_cost=None if r.normative_cost is None else money(r.normative_cost),
            external_id=r.external_id,
            rating=round(r.rating_sum / r.rating_count, 2) if r.rating_count else None,
            review_count=r.rating_count,
            pk=r.id,
            provider_id=r.provider_id,
        )

    @strawberry.field(description="The provider running the program.")
    def provider(self, info: Info[Context, None]) -> Provider:
        return related(info.context, PROVIDER, self.provider_id, existing(Provider.from_row))  # type: ignore[no-any-return]

    @strawberry.field(description="Groups of the program (not archived), by start date.")
    async def groups(self, info: Info[Context, None], first: First, after: After = None) -> Connection[Group]:
        first, key = page_args(first, after, info.context.lang, (str, int))
        rows = await info.context.loaders[GROUPS_OF_PROGRAM].load(self.pk)
        if key:
            rows = [r for r in rows if [r.starts_on.isoformat(), r.id] > key]
        return build_connection(
            rows[: first + 1], first, len(rows), lambda r: [r.starts_on.isoformat(), r.id], Group.from_row, after
        )

    @strawberry.field(description="Reviews of the program, newest first.")
    async def reviews(
        self, info: Info[Context, None], first: First, after: After = None
    ) -> Connection[Annotated[Review, strawberry.lazy("pdo_graph.schema.reviews")]]:
        from pdo_graph.schema.reviews import program_reviews

        return await program_reviews(info.context, self.pk, first, after)


@strawberry.type(description="A group (a run of a program) with seats and a price.")
class Group(Node):
    name: str = strawberry.field(description="Name of the group.")
    starts_on: date = strawberry.field(description="First day.")
    ends_on: date = strawberry.field(description="Last day.")
    schedule: str | None = strawberry.field(description="Schedule, as text.")
    capacity: int = strawberry.field(description="Number of seats.")
    seats_left: int = strawberry.field(description="Seats still free.")
    price: Money = strawberry.field(description="Price for the whole run of the group.")
    enrollment_open: bool = strawberry.field(description="Whether applications are accepted.")
    archived: bool = strawberry.field(description="Archived groups take no new applications.")
    external_id: str | None = strawberry.field(description="The provider's own id of the group (sync).")
    pk: strawberry.Private[int]
    program_id: strawberry.Private[int]

    rows = GROUP
    public = True

    @classmethod
    def from_row(cls, r: GroupRow) -> Group:
        return cls(
            id=strawberry.ID(encode_id("Group", r.id)),
            name=r.name,
            starts_on=r.starts_on,
            ends_on=r.ends_on,
            schedule=r.schedule,
            capacity=r.capacity,
            seats_left=r.capacity - r.seats_taken,
            price=money(r.price),
            enrollment_open=r.enrollment_open and not r.archived,
            archived=r.archived,
            external_id=r.external_id,
            pk=r.id,
            program_id=r.program_id,
        )

    @strawberry.field(description="The program of the group.")
    def program(self, info: Info[Context, None]) -> Program:
        return related(info.context, PROGRAM, self.program_id, existing(Program.from_row))  # type: ignore[no-any-return]


# --- inputs and payloads of the catalog's upkeep ------------------------------------------------------


def _changes(input: Any, names: Iterable[str], nullable: frozenset[str]) -> dict[str, Any]:
    """The fields given (domain names, as the input's): absent ones stay; null clears only ``nullable`` ones."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(input, name)
        if value is strawberry.UNSET or (value is None and name not in nullable):
            continue
        out[name] = value.value if isinstance(value, Direction | ProgramFundingKind) else value
    return out


def program_data(input: Any) -> catalog.ProgramData:
    """The program an input describes (``ProgramCreateInput``, a pushed ``CatalogProgramInput``)."""
    kind = getattr(input, "funding_kind", None)
    return catalog.program_from(
        input,
        direction=input.direction.value,
        archived=bool(getattr(input, "archived", False)),
        funding_kind=(kind or ProgramFundingKind.CERTIFICATE).value,
        for_disabilities=bool(getattr(input, "for_disabilities", False)),
    )


def group_data(input: Any) -> catalog.GroupData:
    """The group an input describes (``GroupCreateInput``, a pushed ``CatalogGroupInput``)."""
    return catalog.group_from(input, enrollment_open=input.enrollment_open is not False)


_PROGRAM_CHANGES = sorted(catalog.PROGRAM_FIELDS - {"archived"})
_PROGRAM_NULLABLE = frozenset({"normative_cost", "hours", "address", "latitude", "longitude", "external_id"})
_GROUP_CHANGES = sorted(catalog.GROUP_FIELDS - {"archived"})
_GROUP_NULLABLE = frozenset({"schedule", "external_id"})


@strawberry.input(description="Operator: register an organisation of the operator's municipality.")
class ProviderRegisterInput:
    name: str = strawberry.field(description="Name of the organisation (3..300 characters).")
    inn: str = strawberry.field(description="ИНН: 10 digits (organisation) or 12 (entrepreneur), checksum checked.")
    municipality: str = strawberry.field(description="Municipality code.")
    address: str | None = strawberry.field(default=None, description="Postal address.")

    def data(self) -> catalog.ProviderData:
        return catalog.ProviderData(self.name, self.inn, self.municipality, self.address)


@strawberry.input(description="Change an organisation's name or address (its staff, or its municipality's operator).")
class ProviderUpdateInput:
    provider_id: strawberry.ID = strawberry.field(description="The provider.")
    name: str | None = strawberry.field(default=None, description="New name; null or absent: unchanged.")
    address: str | None = strawberry.field(
        default=strawberry.UNSET, description="New address; null clears it; absent: unchanged."
    )

    def changes(self) -> dict[str, Any]:
        return _changes(self, ("name", "address"), frozenset({"address"}))


@strawberry.type(description="Result of provider mutations.")
class ProviderPayload:
    provider: Provider | None = strawberry.field(description="The provider.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Provider: a new program of the caller's organisation (not certified yet).")
class ProgramCreateInput:
    title: str = strawberry.field(description="Title, 3..200 characters.")
    description: str = strawberry.field(description="Description, 10..5000 characters.")
    direction: Direction = strawberry.field(description="Direction.")
    min_age: int = strawberry.field(description="Minimum age in years (0..18), inclusive.")
    max_age: int = strawberry.field(description="Maximum age in years (0..18), inclusive.")
    municipality: str = strawberry.field(description="Municipality code where the program runs.")
    normative_cost: SafeInt | None = strawberry.field(default=None, description="Normative cost in kopecks.")
    hours: int | None = strawberry.field(default=None, description="Academic hours of the program.")
    form: str = strawberry.field(
        default="очная", description="Form of study: очная, очно-заочная, заочная or дистанционная."
    )
    address: str | None = strawberry.field(default=None, description="Where classes take place.")
    latitude: float | None = strawberry.field(default=None, description="Latitude (with longitude).")
    longitude: float | None = strawberry.field(default=None, description="Longitude (with latitude).")
    external_id: str | None = strawberry.field(
        default=None, description="The provider's own id of the program (unique within the provider)."
    )
    funding_kind: ProgramFundingKind | None = strawberry.field(
        default=ProgramFundingKind.CERTIFICATE,
        description="CERTIFICATE (paid from certificates, once certified), MUNICIPAL (free) or PAID; null: CERTIFICATE.",
    )
    for_disabilities: bool | None = strawberry.field(
        default=False, description="Suits children with disabilities (ОВЗ); null: false."
    )

    def data(self) -> catalog.ProgramData:
        return program_data(self)


@strawberry.input(description="Provider: change a program. Absent fields stay; null clears an optional field.")
class ProgramUpdateInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    title: str | None = strawberry.field(default=None, description="Title; null or absent: unchanged.")
    description: str | None = strawberry.field(default=None, description="Description; null or absent: unchanged.")
    direction: Direction | None = strawberry.field(default=None, description="Direction; null or absent: unchanged.")
    min_age: int | None = strawberry.field(default=None, description="Minimum age; null or absent: unchanged.")
    max_age: int | None = strawberry.field(default=None, description="Maximum age; null or absent: unchanged.")
    municipality: str | None = strawberry.field(default=None, description="Municipality; null or absent: unchanged.")
    form: str | None = strawberry.field(default=None, description="Form of study; null or absent: unchanged.")
    normative_cost: SafeInt | None = strawberry.field(default=strawberry.UNSET, description="Kopecks; null clears.")
    hours: int | None = strawberry.field(default=strawberry.UNSET, description="Hours; null clears.")
    address: str | None = strawberry.field(default=strawberry.UNSET, description="Address; null clears.")
    latitude: float | None = strawberry.field(default=strawberry.UNSET, description="Latitude; null clears.")
    longitude: float | None = strawberry.field(default=strawberry.UNSET, description="Longitude; null clears.")
    external_id: str | None = strawberry.field(default=strawberry.UNSET, description="External id; null clears.")
    funding_kind: ProgramFundingKind | None = strawberry.field(
        default=None,
        description="Funding kind; null or absent: unchanged. Leaving CERTIFICATE withdraws the certification.",
    )
    for_disabilities: bool | None = strawberry.field(
        default=None, description="Suits children with disabilities (ОВЗ); null or absent: unchanged."
    )

    def changes(self) -> dict[str, Any]:
        return _changes(self, _PROGRAM_CHANGES, _PROGRAM_NULLABLE)


@strawberry.input(description="Provider: archive a program (hidden from search, still readable by id) or restore it.")
class ProgramArchiveInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    archived: bool = strawberry.field(default=True, description="True archives, false restores.")


@strawberry.input(description="Operator of the program's municipality: certify a program or withdraw it.")
class ProgramCertifyInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    certified: bool = strawberry.field(description="Whether the program may be paid from certificates.")


@strawberry.type(description="Result of program mutations.")
class ProgramPayload:
    program: Program | None = strawberry.field(description="The program.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Provider: a new group (a run) of one of the caller's programs.")
class GroupCreateInput:
    program_id: strawberry.ID = strawberry.field(description="The program.")
    name: str = strawberry.field(description="Name of the group.")
    starts_on: date = strawberry.field(description="First day.")
    ends_on: date = strawberry.field(description="Last day (not before the first).")
    capacity: int = strawberry.field(description="Number of seats, at least 1.")
    price: SafeInt = strawberry.field(description="Kopecks for the whole run.")
    enrollment_open: bool = strawberry.field(default=True, description="Accept applications at once.")
    schedule: str | None = strawberry.field(default=None, description="Schedule as text.")
    external_id: str | None = strawberry.field(
        default=None, description="The provider's own id of the group (unique within the program)."
    )

    def data(self) -> catalog.GroupData:
        return group_data(self)


@strawberry.input(description="Provider: change a group. Absent fields stay; capacity never below the seats taken.")
class GroupUpdateInput:
    group_id: strawberry.ID = strawberry.field(description="The group.")
    name: str | None = strawberry.field(default=None, description="Name; null or absent: unchanged.")
    starts_on: date | None = strawberry.field(default=None, description="First day; null or absent: unchanged.")
    ends_on: date | None = strawberry.field(default=None, description="Last day; null or absent: unchanged.")
    capacity: int | None = strawberry.field(default=None, description="Seats; null or absent: unchanged.")
    price: SafeInt | None = strawberry.field(default=None, description="Kopecks; null or absent: unchanged.")
    enrollment_open: bool | None = strawberry.field(default=None, description="Open or close for applications.")
    schedule: str | None = strawberry.field(default=strawberry.UNSET, description="Schedule; null clears.")
    external_id: str | None = strawberry.field(default=strawberry.UNSET, description="External id; null clears.")

    def changes(self) -> dict[str, Any]:
        return _changes(self, _GROUP_CHANGES, _GROUP_NULLABLE)


@strawberry.input(description="Provider: close a group for new applications (running contracts go on).")
class GroupCloseInput:
    group_id: strawberry.ID = strawberry.field(description="The group.")


@strawberry.input(description="Provider: archive a group (out of the catalog, no applications) or restore it.")
class GroupArchiveInput:
    group_id: strawberry.ID = strawberry.field(description="The group.")
    archived: bool = strawberry.field(default=True, description="True archives, false restores.")


@strawberry.type(description="Result of group mutations.")
class GroupPayload:
    group: Group | None = strawberry.field(description="The group.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


NODES: dict[str, type[Node]] = {"Provider": Provider, "Program": Program, "Group": Group}
