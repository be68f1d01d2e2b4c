"""The contract document (domain.md, "Family consent and the contract"): the offer (договор-оферта) of
one enrollment with everything it states, read in one statement, for those who may see the
enrollment (its guardian, the operator of the certificate's municipality, the group's provider).

Parties: the provider (исполнитель), the child's legal representative (заказчик, the guardian's
account) and, for the certificate's part, the municipality that pays it. The child as the family sees
it (name, date of birth, certificate number). The program, the group, the months, the price and the
certificate's and the family's parts month by month (the same split as the quote). The guardian's
application is the acceptance of the offer; its time is the acceptance time.

A provider's or an operator's reading is a read of the child's personal data: the caller notes it in
the request's audit (``ReadAudit``) before the document leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.domain.access import Actor, can_read_enrollment
from pdo_graph.domain.audit import ChildRef, ReadAudit
from pdo_graph.domain.enrollment.terms import MonthShare, monthly_plan
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.domain.money import add_months, format_amount

DIRECTION_NAMES = {
    "TECHNICAL": "техническая",
    "NATURAL_SCIENCE": "естественнонаучная",
    "PHYSICAL_SPORTS": "физкультурно-спортивная",
    "ARTS": "художественная",
    "TOURISM_LOCAL_HISTORY": "туристско-краеведческая",
    "SOCIAL_HUMANITARIAN": "социально-гуманитарная",
}
KIND_NAMES = {
    "CERTIFICATE": "персонифицированное финансирование (оплата сертификатом)",
    "MUNICIPAL": "бесплатная программа (муниципальное задание)",
    "PAID": "платная программа (оплата родителями)",
}
STATUS_NAMES = {
    "PENDING_DRAW": "ожидает жеребьёвки",
    "AWAITING_CONSENT": "ожидает согласия семьи",
    "REQUESTED": "заявка на рассмотрении у исполнителя",
    "ACTIVE": "договор действует",
    "REFUSED": "в зачислении отказано",
    "EXPIRED": "заявка не рассмотрена в срок",
    "TERMINATED": "договор расторгнут",
    "COMPLETED": "договор исполнен",
}


@dataclass(frozen=True, slots=True)
class ContractDocument:
    number: str
    status: str
    accepted_at: datetime
    accepted_local: datetime  # Moscow time, as the document prints it
    payer_municipality: str
    provider_name: str
    provider_inn: str
    provider_address: str | None
    child_name: str
    child_birth_date: date
    certificate_number: str
    program_title: str
    direction: str
    funding_kind: str
    hours: int | None
    form: str
    address: str | None
    group_name: str
    starts_on: date
    ends_on: date
    schedule: str | None
    first_month: date
    months: int
    price: int
    from_certificate: int
    from_family: int
    monthly: tuple[MonthShare, ...]

    @property
    def last_month(self) -> date:
        return add_months(self.first_month, self.months - 1)

    @property
    def title(self) -> str:
        return f"Договор об образовании № {self.number}"

    @property
    def direction_name(self) -> str:
        return DIRECTION_NAMES.get(self.direction, self.direction)

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.funding_kind, self.funding_kind)

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, self.status)


def rub(kopecks: int) -> str:
    """Roubles as the document writes them: "1500.00 руб."."""
    return f"{format_amount(kopecks)} руб."


def day(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def month_label(d: date) -> str:
    return d.strftime("%m.%Y")


_SQL = """
SELECT e.contract_number, e.status, e.created_at, e.created_at AT TIME ZONE 'Europe/Moscow' AS accepted_local, e.price, e.from_certificate, e.from_family, e.first_month,
       e.months, c.number AS certificate_number, c.municipality, m.name AS municipality_name,
       ch.id AS child_id, ch.full_name, ch.birth_date, gu.subject AS guardian_subject,
       g.name AS group_name, g.starts_on, g.ends_on, g.schedule,
       pg.title, pg.direction, pg.funding_kind, pg.hours, pg.form, pg.address,
       pr.id AS provider_id, pr.name AS provider_name, pr.inn, pr.address AS provider_address
  FROM enrollments e
  JOIN certificates c ON c.id = e.certificate_id
  JOIN municipalities m ON m.code = c.municipality
  JOIN children ch ON ch.id = e.child_id
  JOIN guardians gu ON gu.id = e.guardian_id
  JOIN groups g ON g.id = e.group_id
  JOIN programs pg ON pg.id = g.program_id
  JOIN providers pr ON pr.id = pg.provider_id
 WHERE e.id = :id
"""


async def load_document(
    conn: AsyncConnection, actor: Actor, enrollment_id: int, audit: ReadAudit | None = None
) -> ContractDocument:
    """The contract of an enrollment the caller may see (others, and unknown ids: NOT_FOUND).
    A reading by anyone but the guardian is noted in ``audit`` (the child's name and birth date)."""
    r = (await conn.execute(text(_SQL), {"id": enrollment_id})).first()
    if r is None or not can_read_enrollment(actor, r.guardian_subject, r.municipality, r.provider_id):
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", ["enrollmentId"])
    if audit is not None:
        child = ChildRef(r.child_id, r.municipality, r.guardian_subject)
        audit.note(child, "fullName")
        audit.note(child, "birthDate")
    return ContractDocument(
        number=r.contract_number,
        status=r.status,
        accepted_at=r.created_at,
        accepted_local=r.accepted_local,
        payer_municipality=r.municipality_name,
        provider_name=r.provider_name,
        provider_inn=r.inn,
        provider_address=r.provider_address,
        child_name=r.full_name,
        child_birth_date=r.birth_date,
        certificate_number=r.certificate_number,
        program_title=r.title,
        direction=r.direction,
        funding_kind=r.funding_kind,
        hours=r.hours,
        form=r.form,
        address=r.address,
        group_name=r.group_name,
        starts_on=r.starts_on,
        ends_on=r.ends_on,
        schedule=r.schedule,
        first_month=r.first_month,
        months=r.months,
        price=r.price,
        from_certificate=r.from_certificate,
        from_family=r.from_family,
        monthly=monthly_plan(r.first_month, r.months, r.from_certificate, r.from_family),
    )
