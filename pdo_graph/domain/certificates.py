"""Certificates: one application per child, issuance by the operator, status changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pdo_graph.crypto import KeyRing
from pdo_graph.domain import enrollment, funding, notifications, periods
from pdo_graph.domain.access import Actor, require_guardian, require_operator_of
from pdo_graph.domain.errors import DomainError, ErrorCode, Problem
from pdo_graph.domain.identifiers import is_valid_snils, normalize_digits
from pdo_graph.domain.people import age_on, certificate_valid_until, display_name, ensure_guardian, name_key

# Field names of this area's problems (resolvers put them under their argument; WHOLE: the input itself).
APPLICATION = ["applicationId"]
CERTIFICATE = ["certificateId"]
WHOLE: list[str] = []


class CertificateStatus(StrEnum):
    ACTIVE = "ACTIVE"
    FROZEN = "FROZEN"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


@dataclass(frozen=True, slots=True)
class ApplicationRequest:
    full_name: str
    birth_date: date
    snils: str | None
    municipality: str


async def municipality_exists(conn: AsyncConnection, code: str) -> bool:
    row = await conn.execute(text("SELECT 1 FROM municipalities WHERE code = :c"), {"c": code})
    return row.first() is not None


def _validate_application(req: ApplicationRequest, today: date) -> tuple[str, str | None]:
    problems: list[Problem] = []
    name = display_name(req.full_name)
    if not 3 <= len(name) <= 200 or len(name.split(" ")) < 2:
        problems.append(Problem(ErrorCode.INVALID, "text_length", ["fullName"], min=3, max=200))
    if req.birth_date > today:
        problems.append(Problem(ErrorCode.INVALID, "birth_date_future", ["birthDate"]))
    elif age_on(req.birth_date, today) >= 18:
        problems.append(Problem(ErrorCode.INVALID, "child_too_old", ["birthDate"]))
    snils = None
    if req.snils is not None and req.snils.strip():
        snils = normalize_digits(req.snils)
        if not is_valid_snils(snils):
            problems.append(Problem(ErrorCode.INVALID, "snils_invalid", ["snils"]))
    if problems:
        raise DomainError(*problems)
    return name, snils


async def apply(conn: AsyncConnection, actor: Actor, req: ApplicationRequest, today: date, keys: KeyRing) -> int:
    """A guardian applies once per child; returns the application id.

    One child, one row: the database refuses a second row with the same name key and birth date,
    or the same СНИЛС hash. The СНИЛС itself is kept only sealed under the newest personal-data key.
    """
    subject = require_guardian(actor)
    name, snils = _validate_application(req, today)
    if not await municipality_exists(conn, req.municipality):
        raise DomainError.of(ErrorCode.INVALID, "municipality_unknown", ["municipality"], code=req.municipality)
    guardian = await ensure_guardian(conn, subject)
    child = (
        await conn.execute(
            text(
                "INSERT INTO children (guardian_id, full_name, name_key, birth_date, snils_hash, snils_sealed,"
                " municipality) VALUES (:g, :n, :k, :b, :h, :s, :m) ON CONFLICT DO NOTHING RETURNING id"
            ),
            {
                "g": guardian,
                "n": name,
                "k": name_key(name),
                "b": req.birth_date,
                "h": None if snils is None else keys.digest(snils),
                "s": None if snils is None else keys.seal(snils),
                "m": req.municipality,
            },
        )
    ).scalar()
    if child is None:
        child = await _reapplying_child(conn, guardian, name_key(name), req.birth_date, snils, keys)
        await conn.execute(  # the family may have moved since the rejection
            text("UPDATE children SET municipality = :m WHERE id = :c"), {"m": req.municipality, "c": child}
        )
    application = await conn.execute(
        text(
            "INSERT INTO certificate_applications (child_id, guardian_id, municipality)"
            " VALUES (:c, :g, :m) ON CONFLICT DO NOTHING RETURNING id"
        ),
        {"c": child, "g": guardian, "m": req.municipality},
    )
    found = application.scalar()
    if found is None:  # a twin of this request won the race for the one open application
        raise DomainError.of(ErrorCode.DUPLICATE, "application_open", WHOLE)
    return int(found)


async def _reapplying_child(
    conn: AsyncConnection, guardian: int, key: str, birth_date: date, snils: str | None, keys: KeyRing
) -> int:
    """The child of a guardian applying again after a rejection; else DUPLICATE.

    The same child (name and birth date, or СНИЛС) belongs to one guardian: another guardian's
    application for it is the known fraud and is refused, as is a second one while one waits or a
    certificate was issued. After a rejection its guardian may apply again (one open application
    per child: a unique index over the applications that are not REJECTED).
    """
    row = (
        await conn.execute(
            text(
                "SELECT ch.id, ch.guardian_id, EXISTS (SELECT 1 FROM certificate_applications a"
                " WHERE a.child_id = ch.id AND a.status <> 'REJECTED') AS open"
                " FROM children ch WHERE (ch.name_key = :k AND ch.birth_date = :b)"
                " OR (CAST(:h AS text) IS NOT NULL AND ch.snils_hash = :h) ORDER BY ch.id LIMIT 2 FOR UPDATE OF ch"
            ),
            {"k": key, "b": birth_date, "h": None if snils is None else keys.digest(snils)},
        )
    ).all()
    if len(row) != 1 or row[0].guardian_id != guardian:
        raise DomainError.of(ErrorCode.DUPLICATE, "child_duplicate", WHOLE)
    if row[0].open:
        raise DomainError.of(ErrorCode.DUPLICATE, "application_open", WHOLE)
    return int(row[0].id)


async def reject(conn: AsyncConnection, actor: Actor, application_id: int, reason: str) -> int:
    """The operator of the application's municipality rejects it with a reason the guardian sees;
    the guardian may then apply again for that child."""
    app = (
        await conn.execute(
            text("SELECT id, status, municipality FROM certificate_applications WHERE id = :id FOR NO KEY UPDATE"),
            {"id": application_id},
        )
    ).first()
    if app is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", APPLICATION)
    require_operator_of(actor, app.municipality, APPLICATION)
    cleaned = enrollment.clean_reason(reason)
    if cleaned is None:
        raise DomainError.of(ErrorCode.INVALID, "reason_required", ["reason"])
    if app.status != "SUBMITTED":
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "application_decided", APPLICATION)
    await conn.execute(
        text(
            "UPDATE certificate_applications SET status = 'REJECTED', rejection_reason = :r, decided_by = :by,"
            " decided_at = now() WHERE id = :id"
        ),
        {"r": cleaned, "by": actor.subject, "id": application_id},
    )
    await notifications.certificate_rejected(conn, application_id, cleaned)
    return application_id


def other_region(number: str, region: str) -> str | None:
    """The region a certificate number names (its first two digits: region, municipality, serial) when it
    is not ``region``, this deployment's; None for this region's numbers and for what is no number."""
    if len(number) == 10 and number.isdigit() and number[:2] != region:
        return number[:2]
    return None


async def issue(conn: AsyncConnection, actor: Actor, application_id: int, today: date, region: str) -> int:
    """The operator of the application's municipality issues the certificate; returns its id."""
    app = (
        await conn.execute(
            text(
                "SELECT a.id, a.status, a.municipality, a.child_id, ch.birth_date"
                " FROM certificate_applications a JOIN children ch ON ch.id = a.child_id"
                " WHERE a.id = :id FOR NO KEY UPDATE OF a"
            ),
            {"id": application_id},
        )
    ).first()
    if app is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", APPLICATION)
    require_operator_of(actor, app.municipality, APPLICATION)
    if app.status != "SUBMITTED":
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "application_decided", APPLICATION)
    if age_on(app.birth_date, today) >= 18:
        raise DomainError.of(ErrorCode.INVALID, "child_too_old", APPLICATION)
    serial = (
        await conn.execute(
            text(
                "UPDATE municipalities SET next_certificate_serial = next_certificate_serial + 1"
                " WHERE code = :c RETURNING next_certificate_serial - 1"
            ),
            {"c": app.municipality},
        )
    ).scalar_one()
    if serial > 999_999:
        raise DomainError.of(ErrorCode.INVALID, "numbers_exhausted", APPLICATION)
    number = f"{region}{app.municipality}{serial:06d}"
    cert_id = (
        await conn.execute(
            text(
                "INSERT INTO certificates (number, child_id, municipality, status, issued_on, valid_until)"
                " VALUES (:n, :c, :m, 'ACTIVE', :today, :vu) RETURNING id"
            ),
            {
                "n": number,
                "c": app.child_id,
                "m": app.municipality,
                "today": today,
                "vu": certificate_valid_until(app.birth_date),
            },
        )
    ).scalar_one()
    await conn.execute(
        text(
            "UPDATE certificate_applications SET status = 'ISSUED', decided_by = :by, decided_at = now() WHERE id = :id"
        ),
        {"by": actor.subject, "id": application_id},
    )
    await funding.fund_new_certificate(conn, int(cert_id), app.municipality, today, actor=actor.label)
    await notifications.certificate_issued(conn, int(cert_id))
    return int(cert_id)


_TRANSITIONS: dict[CertificateStatus, tuple[CertificateStatus, ...]] = {
    CertificateStatus.FROZEN: (CertificateStatus.ACTIVE,),
    CertificateStatus.ACTIVE: (CertificateStatus.FROZEN,),
    CertificateStatus.REVOKED: (CertificateStatus.ACTIVE, CertificateStatus.FROZEN),
}


async def change_status(
    conn: AsyncConnection,
    actor: Actor,
    certificate_id: int,
    target: CertificateStatus,
    reason: str | None,
) -> None:
    """Freeze (only without running contracts), unfreeze or revoke a certificate.

    Revocation ends the certificate's live applications and contracts (TERMINATED with the
    revocation's reason; months already charged stay charged, the remaining reserves are released,
    the seats freed): an operator revokes a certificate issued in error (a duplicate child, false
    documents) and no contract may go on being paid from it. A freeze is refused while any runs.

    The certificate row is held ``FOR NO KEY UPDATE``; an application holds it ``FOR SHARE``, so
    the two serialise: an application that committed first is seen here (ended by a revocation,
    refusing a freeze), and one that comes after sees the new status and is refused. A revocation
    moves money, so the municipality's open periods are held (shared) before the certificate.
    """
    found = (
        await conn.execute(text("SELECT municipality FROM certificates WHERE id = :id"), {"id": certificate_id})
    ).scalar()
    if found is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "not_found", CERTIFICATE)
    require_operator_of(actor, found, CERTIFICATE)
    reason = enrollment.clean_reason(reason)
    if target is CertificateStatus.REVOKED:
        open_periods = await conn.execute(
            text("SELECT id FROM funding_periods WHERE municipality = :m AND status = 'OPEN'"), {"m": found}
        )
        await periods.lock_shared(conn, [int(r.id) for r in open_periods])
    status = CertificateStatus(
        (
            await conn.execute(
                text("SELECT status FROM certificates WHERE id = :id FOR NO KEY UPDATE"), {"id": certificate_id}
            )
        ).scalar_one()
    )
    if status not in _TRANSITIONS[target]:
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION,
            "certificate_transition",
            CERTIFICATE,
            status=status.value,
            target=target.value,
        )
    if target is CertificateStatus.FROZEN:
        running = await conn.execute(
            text(
                "SELECT 1 FROM enrollments WHERE certificate_id = :id"
                " AND status IN ('PENDING_DRAW','REQUESTED','ACTIVE','AWAITING_CONSENT') LIMIT 1"
            ),
            {"id": certificate_id},
        )
        if running.first() is not None:
            raise DomainError.of(ErrorCode.INVALID_TRANSITION, "certificate_has_contracts", CERTIFICATE)
    if target is CertificateStatus.REVOKED:
        await enrollment.end_certificate_contracts(conn, certificate_id, actor.label, reason or "Сертификат отозван")
    await conn.execute(
        text("UPDATE certificates SET status = :s, status_reason = :r WHERE id = :id"),
        {"s": target.value, "r": reason, "id": certificate_id},
    )


async def expire_certificates(conn: AsyncConnection, today: date) -> int:
    """Certificates past their validity become EXPIRED; returns how many."""
    rows = await conn.execute(
        text(
            "UPDATE certificates SET status = 'EXPIRED', status_reason = 'Ребёнку исполнилось 18 лет'"
            " WHERE status IN ('ACTIVE','FROZEN') AND valid_until < :today RETURNING id"
        ),
        {"today": today},
    )
    return len(rows.all())
