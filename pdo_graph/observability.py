"""Metrics (Prometheus) and structured JSON logs."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_OPERATION_LABELS = 200
OTHER = "other"


class Metrics:
    """The service's metrics, in their own registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
            "pdo_db_pool_connections_in_use", "Database connections checked out of the pool", registry=self.registry
        )
        self.pool_size = Gauge("pdo_db_pool_size", "Database pool size", registry=self.registry)
        self._operations: set[str] = set()
        self.sync_runs = Counter(
            "pdo_catalog_sync_runs_total", "Catalog sync runs by status", ["status"], registry=self.registry
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

    def render(self, pool: Any | None) -> bytes:
        if pool is not None:
            try:
                self.pool_checked_out.set(pool.checkedout())
                self.pool_size.set(pool.size())
            except AttributeError:
                pass
        return generate_latest(self.registry)


# Only these record attributes go into a log line: never tokens, never personal data.
_FIELDS = ("request_id", "operation", "status", "ms", "role", "cost", "outcome")


class JsonFormatter(logging.Formatter):
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


def configure_logging(level: int = logging.INFO, json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("platformdirs").setLevel(logging.ERROR)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
