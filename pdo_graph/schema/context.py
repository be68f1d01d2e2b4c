"""The per-request context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pdo_graph.auth.principal import Principal
from pdo_graph.config import Settings
from pdo_graph.db.session import RequestDb
from pdo_graph.domain.access import ANONYMOUS, Actor
from pdo_graph.domain.audit import ReadAudit
from pdo_graph.reads.base import Loaders, Scope


@dataclass
class Context:
    """One request: who acts (``actor``, built once by the transport), its database, its loaders.

    ``principal`` is the token's claims as given; only the analytics area still reads it.
    """

    principal: Principal
    db: RequestDb
    settings: Settings
    actor: Actor = ANONYMOUS
    lang: str = "ru"
    today: date = field(default_factory=date.today)
    request_id: str = ""
    services: dict[str, Any] = field(default_factory=dict)
    scope: Scope = field(init=False)
    loaders: Loaders = field(init=False)
    _audit: ReadAudit | None = None

    def __post_init__(self) -> None:
        self.scope = Scope(self.db, self.today)
        self.loaders = Loaders(self.scope)

    @property
    def audit(self) -> ReadAudit:
        """Personal-data reads of this request (written before the response by the schema's extension)."""
        if self._audit is None:
            self._audit = ReadAudit(self.actor, self.request_id)
        return self._audit

    def reset_loaders(self) -> None:
        """Drop cached rows after a write, so the payload shows the new state."""
        self.loaders.reset()
