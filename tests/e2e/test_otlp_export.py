"""`PDO_OTLP_ENDPOINT`: a real server sends its spans over OTLP/HTTP to a collector (here a small
HTTP server on loopback that decodes what it receives)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.e2e.conftest import running_server


class Collector(BaseHTTPRequestHandler):
    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            Collector.received.append(request)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def span_names() -> list[str]:
    return [
        span.name
        for request in Collector.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


def test_spans_reach_the_collector(database_url, engine, tmp_path: Path):
    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    try:
        with running_server(
            database_url, tmp_path, tmp_path / "server.log", PDO_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="100"
        ) as server:
            r = httpx.post(
                f"{server.url}/graphql",
                json={"query": "query Towns { municipalities { code } }", "operationName": "Towns"},
                timeout=10,
            )
            assert r.status_code == 200
            deadline = time.monotonic() + 30
            while "query Towns" not in span_names() or "SELECT" not in span_names():
                assert time.monotonic() < deadline, span_names()
                time.sleep(0.1)
        resource = Collector.received[0].resource_spans[0].resource
        assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "pdo-graph"
    finally:
        collector.shutdown()
