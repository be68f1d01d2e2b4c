"""Who may do what: the actor of a request and every ``can_*`` / ``require_*`` check.

The :class:`Actor` is built once per request by :mod:`pdo_graph.auth.actor` (the token's principal
with its provider organisation resolved) and handed to every domain service.
A ``require_*`` raises FORBIDDEN (with the given field, when the refusal concerns one); a
``can_*`` answers a visibility question with a bool (what is not visible is simply absent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pdo_graph.domain.errors import DomainError, ErrorCode


class Role(StrEnum):
    GUARDIAN = "GUARDIAN"
    PROVIDER = "PROVIDER"
    OPERATOR = "OPERATOR"
    ANALYST = "ANALYST"


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller as the domain sees it. ``role`` is None for anonymous callers.

    ``provider_id`` is the caller's organisation (PROVIDER only; None while it is not registered);
    ``municipality`` is the municipality the token names (an operator's, an analyst's).
    """

    role: Role | None = None
    subject: str | None = None
    municipality: str | None = None
    provider_id: int | None = None

    @property
    def anonymous(self) -> bool:
        return self.role is None

    @property
    def label(self) -> str:
        """Who moved money, as the ledger records it: ``guardian:alice``, ``operator:op-01``."""
        return f"{self.role.value.lower() if self.role else 'anonymous'}:{self.subject or ''}"

    @classmethod
    def guardian(cls, subject: str) -> Actor:
        return cls(Role.GUARDIAN, subject)

    @classmethod
    def operator(cls, subject: str, municipality: str) -> Actor:
        return cls(Role.OPERATOR, subject, municipality)

    @classmethod
    def provider(cls, subject: str, provider_id: int | None) -> Actor:
        return cls(Role.PROVIDER, subject, None, provider_id)

    def link_rights(self) -> dict[str, object]:
        """The caller's rights as a signed link carries them (``role``, ``sub``, ``muni``, ``prov``)."""
        return {
            "role": None if self.role is None else self.role.value,
            "sub": self.subject,
            "muni": self.municipality,
            "prov": self.provider_id,
        }

    @classmethod
    def from_link(cls, payload: Mapping[str, Any]) -> Actor:
        """The caller whose rights a signed link's payload carries (``ValueError`` when malformed)."""
        role = payload.get("role")
        return cls(
            role=None if role is None else Role(str(role)),
            subject=None if payload.get("sub") is None else str(payload["sub"]),
            municipality=None if payload.get("muni") is None else str(payload["muni"]),
            provider_id=None if payload.get("prov") is None else int(payload["prov"]),
        )


ANONYMOUS = Actor()

Field = Sequence[str] | None


def _forbidden(field: Field = None) -> DomainError:
    return DomainError.of(ErrorCode.FORBIDDEN, "forbidden", field)


# --- require_*: refusals --------------------------------------------------------------------------


def require_role(actor: Actor, *roles: Role) -> str:
    """One of ``roles``; returns the subject."""
    if actor.role is None or actor.role not in roles or actor.subject is None:
        raise _forbidden()
    return actor.subject


def require_guardian(actor: Actor) -> str:
    return require_role(actor, Role.GUARDIAN)


def require_guardian_of(actor: Actor, guardian_subject: str, field: Field = None) -> str:
    """The guardian of a family (of a certificate, an enrollment)."""
    subject = require_guardian(actor)
    if subject != guardian_subject:
        raise _forbidden(field)
    return subject


def require_operator_of(actor: Actor, municipality: str, field: Field = None) -> str:
    """The operator of ``municipality``."""
    subject = require_role(actor, Role.OPERATOR)
    if actor.municipality != municipality:
        raise _forbidden(field)
    return subject


def require_provider(actor: Actor, field: Field = None) -> int:
    """A PROVIDER whose organisation is registered; returns the organisation's id."""
    require_role(actor, Role.PROVIDER)
    if actor.provider_id is None:
        raise DomainError.of(ErrorCode.FORBIDDEN, "provider_unknown", field)
    return actor.provider_id


def require_provider_of(actor: Actor, provider_id: int, field: Field = None, refusal: str = "forbidden") -> str:
    """Staff (or the machine client) of organisation ``provider_id``; returns the subject. ``refusal``
    is the message key when the caller is another organisation's."""
    subject = require_role(actor, Role.PROVIDER)
    if require_provider(actor, field) != provider_id:
        raise DomainError.of(ErrorCode.FORBIDDEN, refusal, field)
    return subject


# --- can_*: visibility ----------------------------------------------------------------------------


def can_act_for_family(actor: Actor, guardian_subject: str) -> bool:
    """The family's own guardian."""
    return actor.role is Role.GUARDIAN and actor.subject == guardian_subject


def can_act_for_provider(actor: Actor, provider_id: int) -> bool:
    """Staff (or the machine client) of the organisation."""
    return actor.role is Role.PROVIDER and actor.provider_id is not None and actor.provider_id == provider_id


def can_read_family(actor: Actor, guardian_subject: str, municipality: str) -> bool:
    """A family's personal data and money (children, certificates, applications, quotes): its own
    guardian, or the operator of its municipality."""
    if actor.role is Role.GUARDIAN:
        return actor.subject == guardian_subject
    if actor.role is Role.OPERATOR:
        return actor.municipality == municipality
    return False


def can_read_enrollment(actor: Actor, guardian_subject: str, municipality: str, provider_id: int) -> bool:
    """An application or contract: the family's readers, and the provider of the group."""
    return can_read_family(actor, guardian_subject, municipality) or can_act_for_provider(actor, provider_id)


def can_read_provider_books(actor: Actor, provider_id: int, provider_municipality: str) -> bool:
    """A provider's settlements, catalog sources and sync runs: the operator of the provider's
    municipality, and the provider itself."""
    if actor.role is Role.OPERATOR:
        return actor.municipality == provider_municipality
    return can_act_for_provider(actor, provider_id)


def require_analytics_scope(actor: Actor, municipality: str | None) -> str | None:
    """The municipality whose aggregates an analyst or operator reads: the one their token names, if
    any (asking for another is FORBIDDEN on ``filter.municipality``), else the one asked for (None: the
    whole region, analysts only). Every other role, and an operator without a municipality, is refused."""
    require_role(actor, Role.ANALYST, Role.OPERATOR)
    own = actor.municipality
    if actor.role is Role.OPERATOR and own is None:
        raise _forbidden()
    if own is None:
        return municipality
    if municipality is not None and municipality != own:
        raise _forbidden(["filter", "municipality"])
    return own


def audit_scope(actor: Actor) -> str | None:
    """The municipality whose audit log the caller reads (its operator's), or None: nobody else."""
    return actor.municipality if actor.role is Role.OPERATOR and actor.municipality else None


def can_read_statement(actor: Actor, payer: str, provider_id: int) -> bool:
    """A settlement statement: the operator of its payer municipality, or its provider (the payee)."""
    if actor.role is Role.OPERATOR:
        return actor.municipality == payer
    return actor.role is Role.PROVIDER and actor.provider_id == provider_id
