"""OpenTelemetry traces: a span per GraphQL operation and, inside it, a span per SQL statement.

A subscription (over WebSocket) is one operation: its span lasts as long as it (exported when it
ends), with the SQL its deliveries run inside it (a read shared by several subscribers: inside the
one that ran it).

On when ``PDO_OTLP_ENDPOINT`` is set (spans go there over OTLP/HTTP in batches); off otherwise, at
no cost. The operation's span continues the client's trace when the request carries a W3C
``traceparent``.

No personal data in spans: the operation span carries the operation's name and type, the request
id, the role, the cost and the outcome, never the document (its literals may be names or СНИЛС) nor
the variables; a SQL span carries the statement's text with its placeholders, never the parameters,
and a failed statement its SQLSTATE and constraint, never the database's message (it quotes the
refused row). That is also why the SQL spans are made here rather than by the stock SQLAlchemy
instrumentation, which puts the exception's message into the span's status.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pdo_graph.db.reads import ReadPool
from pdo_graph.observability import describe_exception

SERVICE_NAME = "pdo-graph"


def _database_attributes(url: URL) -> dict[str, Any]:
    base: dict[str, Any] = {"db.system.name": "postgresql", "db.namespace": url.database or ""}
    if url.host:
        base["server.address"] = url.host
    if url.port:
        base["server.port"] = url.port
    return base


class Tracing:
    """The app's tracer (or nothing, when tracing is off)."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("pdo_graph") if provider is not None else None
        self._engines: list[Any] = []

    @classmethod
    def to_endpoint(cls, endpoint: str | None) -> Tracing:
        """Spans exported over OTLP/HTTP to ``endpoint`` (``…/v1/traces`` is added to a bare base URL)."""
        if not endpoint:
            return cls()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        url = endpoint if endpoint.rstrip("/").endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces"
        return cls.with_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))

    @classmethod
    def with_exporter(cls, exporter: SpanExporter) -> Tracing:
        """Spans handed to ``exporter`` as each ends (tests: the SDK's in-memory exporter)."""
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        return cls.with_processor(SimpleSpanProcessor(exporter))

    @classmethod
    def with_processor(cls, processor: SpanProcessor) -> Tracing:
        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        provider.add_span_processor(processor)
        return cls(provider)

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    @contextlib.contextmanager
    def operation(self, name: str | None, kind: str, headers: Mapping[str, str], rid: str) -> Iterator[Any]:
        """The span of one GraphQL operation (the current span inside, so SQL spans are its children)."""
        if self.tracer is None:
            yield None
            return
        attributes = {"graphql.operation.type": kind, "pdo.request_id": rid}
        if name:
            attributes["graphql.operation.name"] = name
        span_name = f"{kind} {name}" if name else kind
        with self.tracer.start_as_current_span(
            span_name,
            context=extract(dict(headers)),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except asyncio.CancelledError:
                raise  # the client went away or completed its subscription: not a fault of ours
            except BaseException as exc:
                span.set_status(Status(StatusCode.ERROR, describe_exception(exc)))
                raise

    @staticmethod
    def record(span: Any, outcome: str, role: str | None = None, cost: int | None = None) -> None:
        """An operation's outcome on its span (nothing when tracing is off); an outcome other than
        ``ok`` (or a subscription ``completed`` by its client) marks the span as failed."""
        if span is None:
            return
        span.set_attribute("pdo.outcome", outcome)
        if role is not None:
            span.set_attribute("pdo.role", role)
        if cost is not None:
            span.set_attribute("pdo.cost", cost)
        if outcome not in ("ok", "completed"):
            span.set_status(Status(StatusCode.ERROR, outcome))

    def instrument(self, engine: AsyncEngine) -> None:
        """A span per SQL statement run on ``engine``: its text, never its parameters."""
        if self.tracer is None:
            return
        tracer = self.tracer
        sync_engine = engine.sync_engine
        base = _database_attributes(sync_engine.url)

        def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
            span = tracer.start_span(operation, kind=SpanKind.CLIENT, attributes={**base, "db.query.text": statement})
            context._pdo_span = span

        def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            span = getattr(context, "_pdo_span", None)
            if span is not None:
                span.end()

        def failed(exception_context: Any) -> None:
            span = getattr(exception_context.execution_context, "_pdo_span", None)
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, describe_exception(exception_context.original_exception)))
                span.end()

        for name, listener in (
            ("before_cursor_execute", before),
            ("after_cursor_execute", after),
            ("handle_error", failed),
        ):
            event.listen(sync_engine, name, listener)
            self._engines.append((sync_engine, name, listener))

    def instrument_reads(self, reads: ReadPool, url: str) -> None:
        """A span per statement of the read pool (``db/reads.py``), as for the engine's."""
        if self.tracer is None:
            return
        tracer = self.tracer
        base = _database_attributes(make_url(url))

        @contextlib.contextmanager
        def span(statement: str) -> Iterator[None]:
            operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
            started = tracer.start_span(
                operation, kind=SpanKind.CLIENT, attributes={**base, "db.query.text": statement}
            )
            try:
                yield
            except Exception as exc:
                started.set_status(Status(StatusCode.ERROR, describe_exception(exc)))
                raise
            finally:
                started.end()

        reads.span = span

    def shutdown(self) -> None:
        """Stop tracing the engines and send the spans still buffered."""
        for target, name, listener in self._engines:
            with contextlib.suppress(Exception):
                event.remove(target, name, listener)
        self._engines.clear()
        if self.provider is not None:
            self.provider.shutdown()
