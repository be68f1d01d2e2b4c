"""Settings from the environment (``PDO_*``), validated once at start.

``Settings.from_env()`` reads every variable, and when any is wrong raises ``SettingsError`` with
one line per mistake, each naming its variable (``PDO_PORT: expected a port number 1–65535, got
'abc'``); the CLI prints them all and exits with ``EXIT_SETTINGS``. Secrets are never echoed.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pdo_graph.net import is_loopback, is_secure_endpoint

# Exit codes of the `pdo-graph` commands (README "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a failure (a ledger violation, a failed sync run, ...)
EXIT_SETTINGS = 2  # a setting or a command-line argument is wrong
EXIT_DATABASE = 3  # the database cannot be reached (or does not exist, or refuses us)
EXIT_PORT = 4  # the server cannot listen on its port (taken, or not permitted)
EXIT_INTERRUPTED = 130  # Ctrl-C before the work was done (a server stopped by Ctrl-C exits 0)

DEFAULT_DATA_DIR = ".pdo"
# DejaVu Sans from Debian's fonts-dejavu-core: the Cyrillic font of contract PDFs unless PDO_PDF_FONT names another
DEFAULT_PDF_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LOG_LEVELS = ("debug", "info", "warning", "error")
MIN_SECRET_KEY_CHARS = 32
GENERATE_SECRET = "`openssl rand -base64 32`"


class StartupError(Exception):
    """Why a command cannot run, one line per problem; ``exit_code`` tells the kind (EXIT_*)."""

    exit_code = EXIT_FAILED

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


class SettingsError(StartupError):
    """The environment holds mistakes: one line each, every line naming its variable."""

    exit_code = EXIT_SETTINGS


class Bad(ValueError):
    """A value a parser refuses; the message says what was expected."""


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; every field comes from a ``PDO_*`` variable."""

    database_url: str | None = field(default=None, repr=False)
    database_direct_url: str | None = field(default=None, repr=False)  # past the pooler: migrations, LISTEN, locks
    database_pooler: str = "none"  # none | pgbouncer (transaction pooling: no server-side prepared statements kept)
    database_replica_url: str | None = field(default=None, repr=False)  # a streaming replica for public reads
    replica_max_lag_seconds: float = 5.0  # beyond this, reads meant for the replica go to the primary
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_size: int = 8
    max_inflight_writes: int = 0  # 0: db_pool_size (db.admission)
    write_queue: int = -1  # unset: 16 times max_inflight_writes (0: no queue)
    write_queue_ms: int = 1000
    region_code: str = "77"
    auth_mode: str = "dev"  # dev | oidc
    dev_force: bool = False
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_algorithms: list[str] = field(default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"])
    oidc_role_claim: str = "pdo_role"
    oidc_provider_claim: str = "pdo_provider"
    oidc_municipality_claim: str = "pdo_municipality"
    oidc_region_claim: str = "pdo_region"  # a token naming another region than PDO_REGION_CODE is refused
    oidc_machine_role: str = "PROVIDER"
    secret_key: str | None = field(default=None, repr=False)
    personal_data_keys: str | None = field(default=None, repr=False)
    introspection: bool = True
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_query_chars: int = 100_000
    max_body_bytes: int = 1536 * 1024
    max_cost: int = 50_000
    cors_origins: list[str] = field(default_factory=list)
    ws_max_subscriptions: int = 20  # active subscriptions per WebSocket connection
    ws_max_message_bytes: int = 256 * 1024  # one client message (a subscribe with its document)
    ws_init_timeout_seconds: float = 10.0  # from the WebSocket handshake to connection_init
    ws_ping_seconds: float = 30.0  # a silent client is pinged after this; closed after as long again
    enrollment_expiry_days: int = 5
    waitlist_offer_hours: int = 48  # how long a waitlist offer holds its seat
    time_zone: str = "Europe/Moscow"  # municipalities' days (a municipality may name its own zone)
    pdf_font: Path = Path(DEFAULT_PDF_FONT)  # a Unicode TrueType font for contract PDFs (Cyrillic)
    background_jobs: bool = False  # the server runs a queue worker in its own process (`serve --with-worker`)
    housekeeping_seconds: int = 300  # how often the queue runs housekeeping (expiry, completion, credits)
    worker_concurrency: int = 4  # jobs one worker process runs at once
    worker_heartbeat_seconds: float = 10.0  # a worker silent 3x this long is dead: its jobs run again
    credit_batch: int = 1000  # certificates credited per transaction when a period opens
    sync_background: bool = False
    sync_poll_seconds: float = 30.0
    sync_time_budget_seconds: float = 600.0
    sync_request_budget_seconds: float = 120.0
    sync_request_timeout: float = 15.0
    log_format: str = "auto"  # auto (text on a terminal, JSON otherwise) | json | text
    log_level: str = "info"
    analytics_min_cell: int = 5  # the disclosure threshold: figures behind fewer children are withheld
    analytics_max_rows: int = 5_000  # the most cells of a table's finest level
    analytics_refresh_minutes: float = 60.0  # how often the server recomputes the aggregates (0: never)
    analytics_link_seconds: int = 600  # how long a table's signed CSV link lives
    url_signing_key: str | None = field(default=None, repr=False)
    cache_max_age: int = 60
    trusted_documents: Path | None = None
    otlp_endpoint: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, serving: bool = False, **overrides: Any) -> Settings:
        """The settings of ``env`` (default: the process environment) with ``overrides`` (command-line
        options) applied; ``SettingsError`` lists every mistake. ``serving``: the server's own checks too."""
        e = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        refused: set[str] = set()
        for var in VARIABLES:
            raw = e.get(var.name)
            if raw is None or (raw.strip() == "" and var.empty_is_unset):
                continue
            try:
                values[var.field] = var.parse(raw)
            except Bad as exc:
                problems.append(f"{var.name}: {exc}, got {var.show(raw)}")
                refused.add(var.field)
        settings = cls(**{**values, **{k: v for k, v in overrides.items() if v is not None}})
        problems += [p for p in settings.problems(serving=serving) if _field_of(p) not in refused]
        if problems:
            raise SettingsError(*problems)
        return settings

    def problems(self, serving: bool = False) -> list[str]:
        """Mistakes between settings (each line names the variable to change); ``serving`` adds the
        server's: dev mode listens on loopback only."""
        found: list[str] = []
        if self.database_pooler != "none" and not self.database_direct_url:
            found.append(
                "PDO_DATABASE_DIRECT_URL: required when PDO_DATABASE_POOLER is set (a connection past the pooler,"
                " for migrations, LISTEN and session locks)"
            )
        if self.auth_mode == "oidc":
            if not self.oidc_issuer:
                found.append("PDO_OIDC_ISSUER: required when PDO_AUTH_MODE=oidc (the OpenID Provider's issuer URL)")
            if not self.secret_key:
                found.append(
                    "PDO_SECRET_KEY: required when PDO_AUTH_MODE=oidc (it encrypts catalog-source secrets;"
                    f" at least {MIN_SECRET_KEY_CHARS} characters, e.g. {GENERATE_SECRET})"
                )
            if not self.personal_data_keys:
                found.append(
                    "PDO_PERSONAL_DATA_KEYS: required when PDO_AUTH_MODE=oidc (the key ring for СНИЛС at rest,"
                    ' e.g. "k1:$(openssl rand -base64 32)")'
                )
            if not self.url_signing_key:
                found.append(
                    "PDO_URL_SIGNING_KEY: required when PDO_AUTH_MODE=oidc (it signs CSV links, which every"
                    " serving machine must open alike; e.g. $(openssl rand -base64 32))"
                )
        elif serving and not self.dev_force and not is_loopback(self.host):
            found.append(
                f"PDO_HOST: PDO_AUTH_MODE=dev may only listen on loopback (127.0.0.1, ::1, localhost), got {self.host!r};"
                " use PDO_AUTH_MODE=oidc, or PDO_DEV_FORCE=1 on a trusted network"
            )
        return found


def _field_of(problem: str) -> str | None:
    name = problem.partition(":")[0]
    return next((v.field for v in VARIABLES if v.name == name), None)


# ---- parsers: each returns the value or raises Bad("expected ...") -------------------------------


_WHOLE = re.compile(r"-?[0-9]+")


def port_number(value: str) -> int:
    text = value.strip()
    if not _WHOLE.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise Bad("expected a port number 1–65535")
    return int(text)


def _int_range(low: int, high: int, what: str = "a whole number") -> Callable[[str], int]:
    def parse(value: str) -> int:
        text = value.strip()
        if not _WHOLE.fullmatch(text) or not low <= int(text) <= high:
            raise Bad(f"expected {what} {low}–{high}")
        return int(text)

    return parse


def _decimal(low: float, high: float, unit: str = "seconds") -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value.strip())
        except ValueError:
            number = float("nan")
        if not low <= number <= high:  # also refuses nan
            raise Bad(f"expected {unit} {low:g}–{high:g}")
        return number

    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Bad("expected 1 or 0 (true/false, yes/no, on/off)")


def _choice(*options: str, lower: bool = True) -> Callable[[str], str]:
    def parse(value: str) -> str:
        text = value.strip().lower() if lower else value.strip()
        if text not in options:
            raise Bad(f"expected one of {', '.join(options)}")
        return text

    return parse


def _role(value: str) -> str:
    return _choice("GUARDIAN", "PROVIDER", "OPERATOR", "ANALYST", lower=False)(value.upper())


def _text(value: str) -> str:
    text = value.strip()
    if not text or any(ord(c) < 32 for c in text):
        raise Bad("expected a non-empty name without control characters")
    return text


def _host(value: str) -> str:
    text = value.strip()
    if not text or any(c.isspace() or ord(c) < 32 for c in text) or "/" in text:
        raise Bad("expected a host name or an IP address")
    return text.strip("[]")


def _region(value: str) -> str:
    text = value.strip()
    if not re.fullmatch(r"[0-9]{2}", text):
        raise Bad("expected two digits (the region's code, e.g. 77)")
    return text


def _data_dir(value: str) -> Path:
    path = Path(value.strip()).expanduser()
    if not value.strip():
        raise Bad("expected a directory")
    if path.exists() and not path.is_dir():
        raise Bad("expected a directory, and this is a file")
    return path.absolute()


def _font_file(value: str) -> Path:
    path = Path(value.strip()).expanduser().absolute()
    if not value.strip() or not path.is_file():
        raise Bad("expected a TrueType font file (.ttf) that exists")
    return path


def _database_url(value: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = value.strip()
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise Bad("expected postgresql://user:password@host:port/database") from exc
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise Bad("expected postgresql://user:password@host:port/database (PostgreSQL only)")
    if not url.database:
        raise Bad("expected postgresql://user:password@host:port/database (the database name is missing)")
    return text


def _https_url(value: str) -> str:
    text = value.strip()
    if not is_secure_endpoint(text):
        raise Bad("expected an https:// URL (plain http only on loopback)")
    return text


def _algorithms(value: str) -> list[str]:
    algs = [part.strip() for part in value.split(",") if part.strip()]
    bad = [alg for alg in algs if alg not in OIDC_ALGORITHMS]
    if not algs or bad:
        raise Bad(f"expected a comma-separated list of {', '.join(OIDC_ALGORITHMS)} (none and HS* are refused)")
    return algs


def _origins(value: str) -> list[str]:
    origins = [part.strip() for part in value.split(",") if part.strip()]
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc or parts.path):
            raise Bad("expected comma-separated origins such as https://app.example.org (or *)")
    return origins


def _secret_key(value: str) -> str:
    if len(value) < MIN_SECRET_KEY_CHARS:
        raise Bad(f"expected at least {MIN_SECRET_KEY_CHARS} characters (e.g. {GENERATE_SECRET})")
    return value


def _key_ring(value: str) -> str:
    from pdo_graph.crypto import KeyRing

    try:
        KeyRing.parse(value)
    except ValueError as exc:
        raise Bad(f"expected id:base64key,id:base64key (each key 32+ random bytes): {exc}") from exc
    return value


def _trusted_documents(value: str) -> Path:
    from pdo_graph.persisted import ManifestError, load_manifest

    path = Path(value.strip()).expanduser().absolute()
    try:
        load_manifest(path)
    except ManifestError as exc:
        raise Bad(f"expected a trusted-documents manifest (JSON): {exc}") from exc
    return path


def _collector_url(value: str) -> str:
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Bad("expected the OTLP/HTTP endpoint of a collector, e.g. http://127.0.0.1:4318")
    return text


def _log_format(value: str) -> str:
    return _choice("json", "text", "auto")(value)


@dataclass(frozen=True)
class Var:
    """One ``PDO_*`` variable: the field it sets and how its text is read."""

    name: str
    field: str
    parse: Callable[[str], Any]
    secret: bool = False
    empty_is_unset: bool = True

    def show(self, raw: str) -> str:
        """The refused value as an error line may quote it: never a secret, never a password."""
        if self.secret:
            return f"{len(raw)} characters"
        if self.field.startswith("database_") and self.field.endswith("_url"):
            raw = _PASSWORD.sub(r"\1***@", raw)
        return repr(raw if len(raw) <= 80 else raw[:77] + "...")


def _time_zone(raw: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Bad("an IANA time zone such as Europe/Moscow or Asia/Yekaterinburg") from None
    return name


_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


VARIABLES: tuple[Var, ...] = (
    Var("PDO_DATABASE_URL", "database_url", _database_url),
    Var("PDO_DATABASE_DIRECT_URL", "database_direct_url", _database_url),
    Var("PDO_DATABASE_POOLER", "database_pooler", _choice("none", "pgbouncer")),
    Var("PDO_DATABASE_REPLICA_URL", "database_replica_url", _database_url),
    Var("PDO_REPLICA_MAX_LAG_SECONDS", "replica_max_lag_seconds", _decimal(0, 3600)),
    Var("PDO_DATA_DIR", "data_dir", _data_dir),
    Var("PDO_HOST", "host", _host),
    Var("PDO_PORT", "port", port_number),
    Var("PDO_DB_POOL_SIZE", "db_pool_size", _int_range(1, 1000)),
    Var("PDO_MAX_INFLIGHT_WRITES", "max_inflight_writes", _int_range(0, 1000)),
    Var("PDO_WRITE_QUEUE", "write_queue", _int_range(0, 100000)),
    Var("PDO_WRITE_QUEUE_MS", "write_queue_ms", _int_range(0, 60000)),
    Var("PDO_REGION_CODE", "region_code", _region),
    Var("PDO_AUTH_MODE", "auth_mode", _choice("dev", "oidc")),
    Var("PDO_DEV_FORCE", "dev_force", _bool),
    Var("PDO_OIDC_ISSUER", "oidc_issuer", _https_url),
    Var("PDO_OIDC_AUDIENCE", "oidc_audience", _text),
    Var("PDO_OIDC_ALGORITHMS", "oidc_algorithms", _algorithms),
    Var("PDO_OIDC_ROLE_CLAIM", "oidc_role_claim", _text),
    Var("PDO_OIDC_PROVIDER_CLAIM", "oidc_provider_claim", _text),
    Var("PDO_OIDC_MUNICIPALITY_CLAIM", "oidc_municipality_claim", _text),
    Var("PDO_OIDC_REGION_CLAIM", "oidc_region_claim", _text),
    Var("PDO_OIDC_MACHINE_ROLE", "oidc_machine_role", _role),
    Var("PDO_SECRET_KEY", "secret_key", _secret_key, secret=True),
    Var("PDO_PERSONAL_DATA_KEYS", "personal_data_keys", _key_ring, secret=True),
    Var("PDO_INTROSPECTION", "introspection", _bool),
    Var("PDO_MAX_DEPTH", "max_depth", _int_range(2, 100)),
    Var("PDO_MAX_ALIASES", "max_aliases", _int_range(1, 10_000)),
    Var("PDO_MAX_TOKENS", "max_tokens", _int_range(50, 1_000_000)),
    Var("PDO_MAX_QUERY_CHARS", "max_query_chars", _int_range(100, 10_000_000)),
    Var("PDO_MAX_BODY_BYTES", "max_body_bytes", _int_range(1024, 100 * 1024 * 1024, "a number of bytes")),
    Var("PDO_MAX_COST", "max_cost", _int_range(1, 10**9)),
    Var("PDO_CORS_ORIGINS", "cors_origins", _origins),
    Var("PDO_WS_MAX_SUBSCRIPTIONS", "ws_max_subscriptions", _int_range(1, 1000)),
    Var("PDO_WS_MAX_MESSAGE_BYTES", "ws_max_message_bytes", _int_range(1024, 16 * 1024 * 1024, "a number of bytes")),
    Var("PDO_WS_INIT_TIMEOUT_SECONDS", "ws_init_timeout_seconds", _decimal(0.1, 600)),
    Var("PDO_WS_PING_SECONDS", "ws_ping_seconds", _decimal(0.1, 3600)),
    Var("PDO_TIME_ZONE", "time_zone", _time_zone),
    Var("PDO_ENROLLMENT_EXPIRY_DAYS", "enrollment_expiry_days", _int_range(1, 365, "a number of days")),
    Var("PDO_PDF_FONT", "pdf_font", _font_file),
    Var("PDO_WAITLIST_OFFER_HOURS", "waitlist_offer_hours", _int_range(1, 24 * 30, "a number of hours")),
    Var("PDO_BACKGROUND_JOBS", "background_jobs", _bool),
    Var("PDO_HOUSEKEEPING_SECONDS", "housekeeping_seconds", _int_range(1, 3600, "a number of seconds")),
    Var("PDO_WORKER_CONCURRENCY", "worker_concurrency", _int_range(1, 64, "a number of jobs")),
    Var("PDO_WORKER_HEARTBEAT_SECONDS", "worker_heartbeat_seconds", _decimal(0.2, 600)),
    Var("PDO_CREDIT_BATCH", "credit_batch", _int_range(1, 1_000_000, "a number of certificates")),
    Var("PDO_SYNC_BACKGROUND", "sync_background", _bool),
    Var("PDO_SYNC_POLL_SECONDS", "sync_poll_seconds", _decimal(1, 86400)),
    Var("PDO_SYNC_TIME_BUDGET_SECONDS", "sync_time_budget_seconds", _decimal(1, 86400)),
    Var("PDO_SYNC_REQUEST_BUDGET_SECONDS", "sync_request_budget_seconds", _decimal(1, 3600)),
    Var("PDO_SYNC_REQUEST_TIMEOUT", "sync_request_timeout", _decimal(0.1, 600)),
    Var("PDO_LOG_FORMAT", "log_format", _log_format),
    Var("PDO_LOG_LEVEL", "log_level", _choice(*LOG_LEVELS)),
    Var("PDO_ANALYTICS_MIN_CELL", "analytics_min_cell", _int_range(1, 1000, "a number of children")),
    Var("PDO_ANALYTICS_MAX_ROWS", "analytics_max_rows", _int_range(1, 1_000_000, "a number of rows")),
    Var("PDO_ANALYTICS_REFRESH_MINUTES", "analytics_refresh_minutes", _decimal(0, 7 * 24 * 60, "minutes")),
    Var("PDO_ANALYTICS_LINK_SECONDS", "analytics_link_seconds", _int_range(10, 86400, "a number of seconds")),
    Var("PDO_URL_SIGNING_KEY", "url_signing_key", _secret_key, secret=True),
    Var("PDO_CACHE_MAX_AGE", "cache_max_age", _int_range(0, 86400, "seconds")),
    Var("PDO_TRUSTED_DOCUMENTS", "trusted_documents", _trusted_documents),
    Var("PDO_OTLP_ENDPOINT", "otlp_endpoint", _collector_url),
)
assert {v.field for v in VARIABLES} == {f.name for f in fields(Settings)}, "every setting has one variable"

# Read by the test suite, benchmarks and worker processes, not by the settings object.
OTHER_VARIABLES = frozenset({"PDO_TEST_DATABASE_URL", "PDO_BENCH_DATABASE_URL", "PDO_RUSH_SERVER_LOG"})


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """Warnings for ``PDO_*`` variables that no setting reads (a typo is silently ignored otherwise)."""
    e = os.environ if env is None else env
    known = [v.name for v in VARIABLES]
    warnings = []
    for name in sorted(n for n in e if n.startswith("PDO_") and n not in known and n not in OTHER_VARIABLES):
        close = difflib.get_close_matches(name[4:], [k[4:] for k in known], n=1, cutoff=0.75)
        hint = f" (did you mean PDO_{close[0]}?)" if close else ""
        warnings.append(f"{name}: not a pdo-graph setting, ignored{hint}")
    return warnings
