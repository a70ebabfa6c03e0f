"""Traces (OpenTelemetry) and the metrics endpoint of processes without a web server.

``telemetry_init(service)`` is called once per process at its start: the web
process (``wms/wsgi.py``), the Celery worker and beat (``wms/celery.py``) and the
relay (``manage.py outbox_relay``). Tracing is on only when an OTLP endpoint is
configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
and not ``OTEL_SDK_DISABLED=true``): then Django requests, psycopg statements,
Celery tasks (publish and run, the trace crossing the broker) and outgoing
``requests`` calls (webhooks) become spans, batched and sent over OTLP/HTTP.
The standard ``OTEL_*`` variables (service name, headers, sampler, resource
attributes) apply. Off, nothing of OpenTelemetry is even imported: no cost.

Sampling: a trace is kept or dropped where it starts and every span below it
follows (``ParentBased``: a Celery task of a kept request is kept, across the
broker). Unless ``OTEL_TRACES_SAMPLER`` says otherwise, ``DEFAULT_TRACE_RATIO``
of the traces that start here are kept (``TraceIdRatioBased``;
``OTEL_TRACES_SAMPLER_ARG`` alone changes the ratio). Recording and exporting
spans is most of tracing's cost (an order's intake is ~25 spans, mostly SQL
statements), not the instrumentation: bench/observability_overhead.py.

Log lines carry ``traceId`` and ``spanId`` while a kept span is active
(``trace_ids``, a structlog processor of ``wms.logs``), so a log line leads to
its trace and back; a line of a dropped trace carries none (it would lead
nowhere); ``correlationId`` joins lines either way.
"""

from __future__ import annotations

import logging
import os

import psycopg

logger = logging.getLogger(__name__)

_provider = None  # the TracerProvider once tracing started in this process
_current_span = None  # opentelemetry.trace.get_current_span, once tracing started
#: The class of ``wms.sql.server_bound_cursor``'s cursors: psycopg's own, or a subclass
#: tracing its statements once tracing started (the instrumentation only traces the
#: cursors a connection makes, and these are made by hand).
server_cursor = psycopg.Cursor
#: Share of the traces starting in this process that are kept when neither
#: OTEL_TRACES_SAMPLER nor OTEL_TRACES_SAMPLER_ARG is set. At 1.0 order intake ran
#: 10-34% slower with everything on than off (bench/observability_overhead.py on
#: a shared 2-core machine); at 0.1, with the statements of dropped traces
#: untraced, within the 10% target (README, Observability).
DEFAULT_TRACE_RATIO = 0.1


def otlp_endpoint() -> str:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return ""
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT", ""
    )


def telemetry_init(service: str) -> bool:
    """Start tracing for this process if an OTLP endpoint is configured; True if on."""
    if _provider is not None or not otlp_endpoint():
        return _provider is not None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The exporter reads the endpoint, headers and timeout from the OTEL_* variables.
    tracing_start(service, BatchSpanProcessor(OTLPSpanExporter()), sampler=trace_sampler())
    trace.set_tracer_provider(_provider)  # the process's one (a code's own tracer spans too)
    return True


def trace_sampler():
    """The sampler of ``telemetry_init``: None (the SDK then reads OTEL_TRACES_SAMPLER
    and OTEL_TRACES_SAMPLER_ARG itself) when OTEL_TRACES_SAMPLER is set; else parent
    based, keeping OTEL_TRACES_SAMPLER_ARG (or ``DEFAULT_TRACE_RATIO``) of new traces."""
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    if os.environ.get("OTEL_TRACES_SAMPLER"):
        return None
    ratio = DEFAULT_TRACE_RATIO
    if arg := os.environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip():
        try:
            ratio = min(max(float(arg), 0.0), 1.0)
        except ValueError:
            logger.warning("OTEL_TRACES_SAMPLER_ARG=%r is not a ratio; using %s", arg, ratio)
    return ParentBased(TraceIdRatioBased(ratio))


def tracing_start(service: str, span_processor, *, sampler=None) -> None:
    """Instrument Django, psycopg, Celery and requests, spans going to ``span_processor``
    (``telemetry_init``'s OTLP batch processor; tests pass an in-memory one), sampled by
    ``sampler`` (None: as the OTEL_TRACES_SAMPLER variables say, every trace when unset)."""
    global _provider, _current_span, server_cursor
    from django.conf import settings
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor, _new_cursor_factory
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", f"wms-{service}"),
            "service.namespace": "wms",
            # The instance partitions traces as it does logs and metrics (C-03).
            "wms.instance_id": settings.WMS_INSTANCE_ID,
            "deployment.environment": settings.WMS_REGION,
        }
    )
    provider = TracerProvider(resource=resource, sampler=sampler)
    provider.add_span_processor(span_processor)
    _request_spans_start(provider)
    PsycopgInstrumentor().instrument(tracer_provider=provider)
    _statements_of_dropped_traces_untraced(True)
    CeleryInstrumentor().instrument(tracer_provider=provider)
    RequestsInstrumentor().instrument(tracer_provider=provider)
    server_cursor = _new_cursor_factory(base_factory=psycopg.Cursor, tracer_provider=provider)
    _provider, _current_span = provider, trace.get_current_span
    logger.info("tracing on", extra={"otlpEndpoint": otlp_endpoint() or "(in process)"})


def tracing_stop() -> None:
    """Undo ``tracing_start`` (tests): instrumentation removed, spans flushed."""
    global _provider, _current_span, server_cursor
    if _provider is None:
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    _statements_of_dropped_traces_untraced(False)
    _request_spans_stop()
    for instrumentor in (
        PsycopgInstrumentor(),
        CeleryInstrumentor(),
        RequestsInstrumentor(),
    ):
        instrumentor.uninstrument()
    _provider.shutdown()
    _provider = _current_span = None
    server_cursor = psycopg.Cursor


# --- a server span per request ------------------------------------------------------

REQUEST_SPANS_MIDDLEWARE = "wms.telemetry.RequestSpanMiddleware"
#: Polled every few seconds by the orchestrator and Prometheus: no traces of them.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _request_spans_start(provider) -> None:
    """``RequestSpanMiddleware`` first in the middleware (before the app loads them, as
    ``wms.wsgi`` calls ``telemetry_init``; a test client loads them per client)."""
    from django.conf import settings
    from opentelemetry import trace

    RequestSpanMiddleware.tracer = trace.get_tracer("wms.web", tracer_provider=provider)
    if REQUEST_SPANS_MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [REQUEST_SPANS_MIDDLEWARE, *settings.MIDDLEWARE]


def _request_spans_stop() -> None:
    from django.conf import settings

    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != REQUEST_SPANS_MIDDLEWARE]
    RequestSpanMiddleware.tracer = None


class RequestSpanMiddleware:
    """A server span per request, the parent of its statements' and tasks' spans, on
    OpenTelemetry's API (context from the ``traceparent`` header, the semantic
    conventions' attributes of ``opentelemetry.instrumentation.wsgi``).

    In place of opentelemetry-instrumentation-django's middleware, which per request,
    kept or dropped, resolved the URL a second time only to name the span, built the
    absolute URI three times to test it against the excluded URLs, and collected every
    attribute before the sampler had decided: 1.06 ms of gunicorn CPU per order intake
    (py-spy, bench/observability_overhead.py), most of tracing's cost at a 10% sample.
    Here a dropped request costs the sampler's decision and a non-recording span; a kept
    one gets its attributes, and its name and ``http.route`` from the URL Django resolved.
    """

    tracer = None

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tracer = self.tracer
        if tracer is None or request.path_info in UNTRACED_PATHS:
            return self.get_response(request)
        from opentelemetry import context, propagate, trace
        from opentelemetry.instrumentation.wsgi import (
            add_response_attributes,
            collect_request_attributes,
            wsgi_getter,
        )

        parent = propagate.extract(request.META, getter=wsgi_getter)
        span = tracer.start_span(request.method, context=parent, kind=trace.SpanKind.SERVER)
        token = context.attach(trace.set_span_in_context(span, parent))
        try:
            if span.is_recording():
                span.set_attributes(collect_request_attributes(request.META))
            response = self.get_response(request)
            if span.is_recording():
                match = getattr(request, "resolver_match", None)
                if match is not None and match.route:
                    span.update_name(f"{request.method} {match.route}")
                    span.set_attribute("http.route", match.route)
                add_response_attributes(
                    span, f"{response.status_code} {response.reason_phrase}", response.items()
                )
            return response
        except BaseException as exc:
            if span.is_recording():
                span.record_exception(exc)
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            context.detach(token)
            span.end()


def _statements_of_dropped_traces_untraced(on: bool) -> None:
    """A statement run inside a span of a dropped trace goes straight to the database.

    The instrumentation would make a span the sampler drops anyway (parent based:
    the child of a dropped span is dropped), after naming it from the SQL text and
    entering and leaving it as the current span: an order's intake runs ~20
    statements, most of its instrumentation cost when its trace is not kept.
    Statements with no span around them (the relay's loop) are sampled as before.
    OpenTelemetry has no option for this: its cursor tracer is wrapped here, and
    unwrapped by ``tracing_stop``."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.dbapi import CursorTracer

    traced = CursorTracer.traced_execution
    original = getattr(traced, "wms_original", None)
    if not on:
        if original is not None:
            CursorTracer.traced_execution = original
        return
    if original is not None:
        return

    def traced_execution(self, cursor, query_method, *args, **kwargs):
        context = trace.get_current_span().get_span_context()
        if context.is_valid and not context.trace_flags.sampled:
            return query_method(*args, **kwargs)
        return traced(self, cursor, query_method, *args, **kwargs)

    traced_execution.wms_original = traced
    CursorTracer.traced_execution = traced_execution


def trace_ids(logger, method_name, event_dict):
    """structlog processor: ``traceId`` and ``spanId`` of the active span, if it is kept."""
    if _current_span is None:
        return event_dict
    context = _current_span().get_span_context()
    if context.is_valid and context.trace_flags.sampled:
        event_dict.setdefault("traceId", format(context.trace_id, "032x"))
        event_dict.setdefault("spanId", format(context.span_id, "016x"))
    return event_dict


def metrics_server_start() -> int | None:
    """Serve /metrics on ``WMS_METRICS_PORT`` (worker, relay: no web server of their
    own); the port, or None when not configured."""
    port = int(os.environ.get("WMS_METRICS_PORT") or 0)
    if not port:
        return None
    from prometheus_client import start_http_server

    from .metrics import scrape_registry

    start_http_server(port, registry=scrape_registry())
    return port
