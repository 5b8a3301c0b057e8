"""Issue 6: one trace follows a portal request from the gateway through gRPC into tickets and across NATS (the
outbox's headers) into identity's ticket-created consumer.

The processes export with their real OTLP/HTTP exporter (configured only by the standard OTEL_* variables) to
a small OTLP receiver in this test, which decodes each ExportTraceServiceRequest with opentelemetry-proto.
"""

from __future__ import annotations

import gzip
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

from portal_local.ports import HOST
from portal_local.s3 import WeedS3
from portal_local.seed import DEMO_CUSTOMERS, seed_stack
from portal_local.stack import Stack, StackConfig

REQUEST_SPAN = "POST /api/v1/tickets"
CONSUME_SPAN = "consume portal.tickets.ticket_created.v1"
WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int


class OtlpReceiver:
    """Accepts POST /v1/traces (protobuf, optionally gzip or deflate) and keeps every span it was sent."""

    def __init__(self, host: str = HOST) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                request = ExportTraceServiceRequest.FromString(body)
                receiver.add(request)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.endpoint = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-receiver", daemon=True)

    def add(self, request: ExportTraceServiceRequest) -> None:
        spans = []
        for rs in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(
                        Span(
                            service=attrs.get("service.name", ""),
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            kind=s.kind,
                        )
                    )
        with self.lock:
            self.spans += spans

    def snapshot(self) -> list[Span]:
        with self.lock:
            return list(self.spans)

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def traced_stack(tmp_path: Path, s3_server: WeedS3) -> Iterator[tuple[Stack, OtlpReceiver]]:
    """A stack of its own (not the session's `stack`) whose processes export their spans to a receiver here."""
    with OtlpReceiver() as receiver:
        env = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        # The session's S3 server, as the session's stack uses it: one weed less to start and stop.
        with Stack(StackConfig(var_dir=tmp_path / "var", free_ports=True, s3=s3_server, env=env)) as stack:
            seed_stack(stack)
            yield stack, receiver


def test_one_trace_from_the_gateway_through_tickets_and_nats_into_identitys_consumer(traced_stack):
    stack, receiver = traced_stack
    acme = DEMO_CUSTOMERS[0]
    with httpx.Client(base_url=stack.gateway_url, timeout=15, trust_env=False) as c:
        r = c.post("/api/v1/sessions", json={"login": acme.login, "password": acme.password})
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['session_token']}"}
        subject = f"traced {uuid.uuid4().hex[:8]}"
        r = c.post("/api/v1/tickets", json={"subject": subject, "description": "one trace"}, headers=auth)
        assert r.status_code == 201, r.text

    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        spans = receiver.snapshot()
        roots = [s for s in spans if s.service == "gateway" and s.name == REQUEST_SPAN and not s.parent_span_id]
        trace = [s for s in spans if roots and s.trace_id == roots[0].trace_id]
        consumed = [s for s in trace if s.service == "identity" and s.name == CONSUME_SPAN]
        if consumed or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    services = sorted({s.service for s in spans})
    assert roots, f"no gateway span for the request; services that exported: {services}"
    assert len(roots) == 1, roots
    by_id = {s.span_id: s for s in trace}
    outline = "\n".join(f"  {s.service}: {s.name} (parent {s.parent_span_id or '-'})" for s in trace)
    assert consumed, f"identity's consumer span is not in the request's trace; the trace has:\n{outline}"

    tickets_server = [
        s
        for s in trace
        if s.service == "tickets" and s.name.endswith("/CreateTicket") and s.kind == OtlpSpan.SPAN_KIND_SERVER
    ]
    assert tickets_server, f"no tickets CreateTicket span in the trace:\n{outline}"
    gateway_client = by_id.get(tickets_server[0].parent_span_id)
    assert gateway_client is not None and gateway_client.service == "gateway", (
        f"tickets' server span is not a child of the gateway's gRPC call:\n{outline}"
    )

    # The consumer's span continues the context that CreateTicket stored with the event in the outbox.
    (consume,) = consumed
    assert consume.kind == OtlpSpan.SPAN_KIND_CONSUMER
    parent = by_id.get(consume.parent_span_id)
    assert parent is not None and parent.service == "tickets", f"the consumer's parent:\n{outline}"
