"""The per-request context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from pdo_graph.auth.principal import Principal
from pdo_graph.config import Settings
from pdo_graph.db.session import RequestDb
from pdo_graph.domain.access import ANONYMOUS, Actor
from pdo_graph.domain.audit import ReadAudit

if TYPE_CHECKING:
    from pdo_graph.resolvers.loaders import Loaders


@dataclass
class Context:
    principal: Principal
    db: RequestDb
    settings: Settings
    actor: Actor = ANONYMOUS
    lang: str = "ru"
    today: date = field(default_factory=date.today)
    request_id: str = ""
    services: dict[str, Any] = field(default_factory=dict)
    _loaders: Loaders | None = None
    _audit: ReadAudit | None = None

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            from pdo_graph.resolvers.loaders import Loaders

            self._loaders = Loaders(self)
        return self._loaders

    @property
    def audit(self) -> ReadAudit:
        """Personal-data reads of this request (written before the response by the schema's extension)."""
        if self._audit is None:
            self._audit = ReadAudit(self.actor, self.request_id)
        return self._audit

    def reset_loaders(self) -> None:
        """Drop cached rows after a write, so the payload shows the new state."""
        self._loaders = None
