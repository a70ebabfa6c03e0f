"""Traces (wms.telemetry): spans of requests, SQL statements and outgoing calls when
tracing is on, their trace id in the JSON log lines; nothing at all when it is off."""

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.outbound.conftest import subprocess_env
from wms import telemetry
from wms.logs import formatter

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spans():
    """Tracing on for the test, its spans kept in memory."""
    exporter = InMemorySpanExporter()
    telemetry.tracing_start("test", SimpleSpanProcessor(exporter))
    yield exporter
    telemetry.tracing_stop()


@pytest.fixture
def request_log_lines():
    """The JSON lines of ``wms.request`` (a line per request), as the console renders them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    logger = logging.getLogger("wms.request")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line]
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.mark.django_db(transaction=True)
def test_tracing_start_spans_request_and_sql_with_trace_id_in_log(
    spans, warehouse, system_client, request_log_lines
):
    """A request is a server span with its SQL statements as children; the request's
    log line carries the span's traceId."""
    client = system_client("store", "S042", [warehouse])
    connection.close()  # opened before tracing started: the next one is instrumented
    spans.clear()  # the token's set-up statements, when the connection was new already
    response = client.get("/api/v1/replenishment-orders")
    assert response.status_code == 200
    finished = spans.get_finished_spans()
    server = [s for s in finished if s.kind.name == "SERVER"]
    assert len(server) == 1, [s.name for s in finished]
    # Named by the route Django resolved, with the semantic conventions' attributes.
    assert server[0].name == "GET api/v1/replenishment-orders"
    assert server[0].attributes["http.route"] == "api/v1/replenishment-orders"
    assert server[0].attributes["http.status_code"] == 200
    assert server[0].attributes["http.method"] == "GET"
    trace_id = server[0].context.trace_id
    sql = [s for s in finished if s.attributes.get("db.system") == "postgresql"]
    assert sql and all(s.context.trace_id == trace_id for s in sql)
    assert server[0].resource.attributes["wms.instance_id"] == django_settings.WMS_INSTANCE_ID
    (line,) = [li for li in request_log_lines() if li.get("path") == "/api/v1/replenishment-orders"]
    assert line["traceId"] == format(trace_id, "032x")
    assert line["correlationId"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.django_db(transaction=True)
def test_tracing_start_leaves_probes_untraced_and_marks_server_errors(
    spans, client, warehouse, system_client, monkeypatch
):
    """/healthz and /metrics (polled every few seconds) make no span; a refused request
    is a span without an error status (the client's error), a failing one a span with it."""
    from django.urls import resolve

    for path in ("/healthz", "/metrics"):
        client.get(path)
    assert [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"] == []

    store = system_client("store", "S042", [warehouse])
    assert client.get("/api/v1/replenishment-orders").status_code == 401

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    view = resolve("/api/v1/replenishment-orders").func
    monkeypatch.setattr(view.cls, "get", broken)
    store.raise_request_exception = False
    assert store.get("/api/v1/replenishment-orders").status_code == 500
    refused, failed = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert refused.attributes["http.status_code"] == 401
    assert refused.status.status_code.name == "UNSET"
    assert failed.attributes["http.status_code"] == 500
    assert failed.status.status_code.name == "ERROR"


@pytest.mark.django_db(transaction=True)
def test_tracing_start_spans_server_bound_statements(spans, warehouse, system_client):
    """Statements the hot paths run on server-bound cursors (``wms.sql``; here the
    idempotency claim of an intake refused at validation) are spans too."""
    client = system_client("store", "S042", [warehouse])
    response = client.post(
        "/api/v1/replenishment-orders", {"lines": []}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code in (400, 422)
    statements = [s.attributes.get("db.statement", "") for s in spans.get_finished_spans()]
    assert any("pg_try_advisory_xact_lock" in text for text in statements), statements


def test_tracing_start_spans_outgoing_requests(spans):
    """An outgoing HTTP call (webhooks use ``requests``) is a client span."""
    import requests

    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:9/unreachable", timeout=1)
    client = [s for s in spans.get_finished_spans() if s.kind.name == "CLIENT"]
    assert client and client[0].attributes.get("http.request.method", "GET") == "GET"


def test_trace_ids_without_tracing_leaves_log_line_alone(db, request_log_lines, client):
    """Tracing off: no traceId on the lines, and trace_ids touches nothing."""
    assert telemetry._provider is None
    event = {"event": "x"}
    assert telemetry.trace_ids(None, "info", event) == {"event": "x"}
    client.get("/healthz")
    assert request_log_lines() and all("traceId" not in li for li in request_log_lines())


def test_telemetry_init_without_endpoint_imports_nothing_of_opentelemetry(db):
    """No OTLP endpoint: the web process starts without loading OpenTelemetry at all
    (and so without instrumenting anything: no cost when off)."""
    env = subprocess_env()
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        env.pop(name, None)
    code = (
        "import sys, wms.wsgi, wms.telemetry as t;"
        "print(t._provider is None, any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "False"]


def test_telemetry_init_with_endpoint_exports_over_otlp(db):
    """With OTEL_EXPORTER_OTLP_ENDPOINT the web process traces requests (its span
    middleware first) and exports through the OTLP/HTTP batch processor."""
    env = subprocess_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
    code = (
        "import wms.wsgi, wms.telemetry as t; from django.conf import settings;"
        "p = t._provider._active_span_processor._span_processors[0];"
        "print(type(p).__name__, type(p._batch_processor._exporter).__name__,"
        " settings.MIDDLEWARE[0] == t.REQUEST_SPANS_MIDDLEWARE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["BatchSpanProcessor", "OTLPSpanExporter", "True"]


def test_trace_sampler_keeps_a_share_of_new_traces_by_default(monkeypatch):
    """No sampler configured: parent based, DEFAULT_TRACE_RATIO of new traces;
    OTEL_TRACES_SAMPLER_ARG alone sets the ratio (a bad one is ignored);
    OTEL_TRACES_SAMPLER leaves the choice to the SDK's variables."""
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    ratio = f"TraceIdRatioBased{{{telemetry.DEFAULT_TRACE_RATIO}}}"
    assert telemetry.DEFAULT_TRACE_RATIO < 1
    assert telemetry.trace_sampler().get_description().startswith(f"ParentBased{{root:{ratio}")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    assert "TraceIdRatioBased{0.25}" in telemetry.trace_sampler().get_description()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "a lot")
    assert ratio in telemetry.trace_sampler().get_description()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    assert telemetry.trace_sampler() is None


@pytest.fixture
def spans_kept_only_downstream():
    """Tracing on with a parent-based sampler that starts no trace of its own."""
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    exporter = InMemorySpanExporter()
    telemetry.tracing_start(
        "test", SimpleSpanProcessor(exporter), sampler=ParentBased(TraceIdRatioBased(0.0))
    )
    yield exporter
    telemetry.tracing_stop()


@pytest.mark.django_db(transaction=True)
def test_tracing_sampled_out_request_records_nothing_and_logs_no_trace_id(
    spans_kept_only_downstream, warehouse, system_client, request_log_lines
):
    """A request whose trace is dropped records no span (nor its SQL) and its log line
    names no trace; one whose caller kept the trace (``traceparent``) is traced in
    that trace, statements included, and its line carries that traceId."""
    spans = spans_kept_only_downstream
    client = system_client("store", "S042", [warehouse])
    connection.close()  # opened before tracing started: the next one is instrumented
    spans.clear()
    assert client.get("/api/v1/replenishment-orders").status_code == 200
    assert spans.get_finished_spans() == ()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = client.get(
        "/api/v1/replenishment-orders", HTTP_TRACEPARENT=f"00-{trace_id}-00f067aa0ba902b7-01"
    )
    assert response.status_code == 200
    finished = spans.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in finished} == {trace_id}
    assert any(s.attributes.get("db.system") == "postgresql" for s in finished)
    lines = [li for li in request_log_lines() if li.get("path") == "/api/v1/replenishment-orders"]
    assert len(lines) == 2
    assert "traceId" not in lines[0]
    assert lines[1]["traceId"] == trace_id


@pytest.mark.django_db(transaction=True)
def test_tracing_statements_of_a_dropped_trace_skip_the_instrumentation(
    spans_kept_only_downstream, monkeypatch
):
    """Inside a span the sampler dropped, a statement runs without the SQL tracer's
    work (its span would be dropped anyway); inside a kept one it is a span."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.dbapi import CursorTracer
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    named = []
    name_of = CursorTracer.get_operation_name
    monkeypatch.setattr(
        CursorTracer,
        "get_operation_name",
        lambda self, cursor, args: named.append(args[0]) or name_of(self, cursor, args),
    )
    connection.close()  # opened before tracing started: the next one is instrumented
    with connection.cursor() as cursor:
        cursor.execute("SELECT 0")  # the connection's set-up statements, outside any span
    named.clear()
    tracer = telemetry._provider.get_tracer("test")
    with tracer.start_as_current_span("dropped"), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert named == []
    assert spans_kept_only_downstream.get_finished_spans() == ()
    caller = SpanContext(
        0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, TraceFlags(1)
    )
    kept = trace.set_span_in_context(NonRecordingSpan(caller))
    with tracer.start_as_current_span("kept", context=kept), connection.cursor() as cursor:
        cursor.execute("SELECT 2")
    assert named == ["SELECT 2"]
    names = [s.name for s in spans_kept_only_downstream.get_finished_spans()]
    assert "kept" in names and len(names) == 2, names
