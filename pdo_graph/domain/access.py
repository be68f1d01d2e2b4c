"""Who may do what: the role checks shared by every service."""

from __future__ import annotations

from collections.abc import Sequence

from pdo_graph.auth.principal import Principal, Role
from pdo_graph.domain.errors import DomainError, ErrorCode


def require_role(principal: Principal, *roles: Role) -> str:
    if principal.role is None or principal.role not in roles or principal.subject is None:
        raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden")
    return principal.subject


def require_guardian(principal: Principal) -> str:
    return require_role(principal, Role.GUARDIAN)


def require_operator_of(principal: Principal, municipality: str, field: Sequence[str] | None = None) -> str:
    subject = require_role(principal, Role.OPERATOR)
    if principal.municipality != municipality:
        raise DomainError.of(ErrorCode.FORBIDDEN, "forbidden", field)
    return subject


def can_read_family(principal: Principal, guardian_subject: str, municipality: str) -> bool:
    """A family's personal data: its own guardian, or the operator of its municipality."""
    if principal.role is Role.GUARDIAN:
        return principal.subject == guardian_subject
    if principal.role is Role.OPERATOR:
        return principal.municipality == municipality
    return False
