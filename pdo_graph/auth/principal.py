"""Who is calling: the principal built from a bearer token (its claims, as given; :mod:`pdo_graph.auth.actor`
resolves it into the domain's :class:`~pdo_graph.domain.access.Actor`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pdo_graph.domain.access import Role

__all__ = ["ANONYMOUS", "AuthError", "ClaimNames", "Principal", "Role", "principal_from_claims"]


class AuthError(Exception):
    """A bearer token was presented but cannot be accepted (HTTP 401); the reason in Russian
    (``message``) and English."""

    def __init__(self, message: str, english: str) -> None:
        super().__init__(message)
        self.message = message
        self.english = english

    def text(self, lang: str) -> str:
        return self.english if lang == "en" else self.message


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller. ``role`` is None for anonymous callers."""

    role: Role | None = None
    subject: str | None = None
    provider: str | None = None  # provider INN or global id, as carried by the token
    municipality: str | None = None
    region: str | None = None  # the region the token was issued for, when it names one (one database per region)
    # the token's ``exp`` (Unix time): a subscription authorised by it ends there; not part of who it is
    expires_at: float | None = field(default=None, compare=False)

    @property
    def anonymous(self) -> bool:
        return self.role is None


ANONYMOUS = Principal()


@dataclass(frozen=True, slots=True)
class ClaimNames:
    role: str = "pdo_role"
    provider: str = "pdo_provider"
    municipality: str = "pdo_municipality"
    region: str = "pdo_region"
    machine_role: str = "PROVIDER"


def principal_from_claims(claims: Mapping[str, Any], names: ClaimNames) -> Principal:
    """Map validated JWT claims to a principal.

    A token without a role claim but with a provider claim is a machine client of that
    provider (client-credentials); it gets ``names.machine_role``.
    """
    subject = claims.get("sub") or claims.get("client_id")
    raw_role = claims.get(names.role)
    provider = claims.get(names.provider)
    municipality = claims.get(names.municipality)
    region = claims.get(names.region)
    if raw_role is None:
        if provider is None:
            raise AuthError("В токене нет роли", "The token has no role")
        raw_role = names.machine_role
    try:
        role = Role(str(raw_role).upper())
    except ValueError as exc:
        raise AuthError(f"Неизвестная роль в токене: {raw_role}", f"Unknown role in the token: {raw_role}") from exc
    if not subject:
        raise AuthError("В токене нет субъекта (sub)", "The token has no subject (sub)")
    if role is Role.PROVIDER and not provider:
        raise AuthError("В токене поставщика нет организации", "The provider's token names no organisation")
    if role is Role.OPERATOR and not municipality:
        raise AuthError("В токене оператора нет муниципалитета", "The operator's token names no municipality")
    exp = claims.get("exp")
    return Principal(
        role=role,
        subject=str(subject),
        provider=str(provider) if provider else None,
        municipality=str(municipality) if municipality else None,
        region=str(region) if region else None,
        expires_at=float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None,
    )
