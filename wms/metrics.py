"""Business and backbone metrics (issue 18), beside django-prometheus's request metrics.

Every series carries ``instance_id`` (``WMS_INSTANCE_ID``) and, where the work
belongs to one, ``warehouse`` (its code). The services call the small
functions below at their boundaries; each records *after the commit*
(``transaction.on_commit``: a rolled-back order or pick is never counted, and
outside a transaction the callback runs at once) and costs no query: a
warehouse code is looked up once per process and warehouse (``warehouse_code``).

==========================================  =========  ===================================
series                                      type       labels (besides instance_id)
==========================================  =========  ===================================
wms_orders_accepted_total                   counter    warehouse
wms_orders_rejected_total                   counter    warehouse, stage, reason
wms_planning_latency_seconds                histogram  warehouse, outcome
wms_pick_lines_total                        counter    warehouse, source, status
wms_pick_confirmation_seconds               histogram  warehouse, source
wms_outbox_published_total                  counter    sink
wms_outbox_publish_lag_seconds              histogram  (commit → confirmed by the bus)
wms_outbox_pending / _lag_seconds           gauge      (read at scrape time, partial index)
wms_webhook_deliveries_total                counter    target, outcome
wms_dead_letters_total                      counter    channel, target
wms_idempotency_replays_total               counter    route
wms_offline_sync_entries_total              counter    warehouse, kind, outcome
==========================================  =========  ===================================

Processes: django-prometheus keeps metrics per process. With several gunicorn
workers (or Celery's prefork children) set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty directory per pod: every process writes its figures there and
``metrics_view`` (``/metrics``) sums them (prometheus_client's multiprocess
mode), together with the collectors read at scrape time. Workers and the relay
have no web server: ``wms.telemetry.metrics_server_start`` serves the same on
``WMS_METRICS_PORT``. See README "Observability".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from .idempotency import idempotent_request_handled

# Seconds: a pick or an intake is tens of ms; planning from acceptance is seconds to minutes.
_FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)

ORDERS_ACCEPTED = Counter(
    "wms_orders_accepted", "Replenishment orders accepted at intake.", ["instance_id", "warehouse"]
)
ORDERS_REJECTED = Counter(
    "wms_orders_rejected",
    "Orders refused: at intake (the problem's code) or by planning (first reason).",
    ["instance_id", "warehouse", "stage", "reason"],
)
PLANNING_LATENCY = Histogram(
    "wms_planning_latency_seconds",
    "From an order's acceptance to the commit of its first planning decision.",
    ["instance_id", "warehouse", "outcome"],
    buckets=_SLOW_BUCKETS,
)
PICK_LINES = Counter(
    "wms_pick_lines",
    "Pick tasks (order lines) confirmed, by how the task closed.",
    ["instance_id", "warehouse", "source", "status"],
)
PICK_CONFIRMATION_SECONDS = Histogram(
    "wms_pick_confirmation_seconds",
    "Time the pick confirmation service took, call to commit (replays excluded).",
    ["instance_id", "warehouse", "source"],
    buckets=_FAST_BUCKETS,
)
OUTBOX_PUBLISHED = Counter(
    "wms_outbox_published", "Outbox events confirmed by the event bus.", ["instance_id", "sink"]
)
OUTBOX_PUBLISH_LAG = Histogram(
    "wms_outbox_publish_lag_seconds",
    "From an event's transaction (occurred_at) to its confirmation by the bus.",
    ["instance_id"],
    buckets=_SLOW_BUCKETS,
)
WEBHOOK_DELIVERIES = Counter(
    "wms_webhook_deliveries",
    "Webhook and push delivery attempts, by outcome (delivered, retrying, dead).",
    ["instance_id", "target", "outcome"],
)
DEAD_LETTERS = Counter(
    "wms_dead_letters",
    "Messages given up after their last attempt (outbox events, deliveries).",
    ["instance_id", "channel", "target"],
)
IDEMPOTENCY_REPLAYS = Counter(
    "wms_idempotency_replays",
    "Idempotent requests answered from their stored outcome (a client's retry).",
    ["instance_id", "route"],
)
OFFLINE_SYNC_ENTRIES = Counter(
    "wms_offline_sync_entries",
    "Handheld offline queue entries synced, by outcome (applied, already_applied, "
    "refused, conflict).",
    ["instance_id", "warehouse", "kind", "outcome"],
)


def _instance() -> str:
    return settings.WMS_INSTANCE_ID


def after_commit(record: Callable[[], None]) -> None:
    """Record when the current transaction commits (at once outside one)."""
    transaction.on_commit(record)


# --- warehouse codes ---------------------------------------------------------------

_warehouse_codes: dict[int, str] = {}
_warehouse_codes_load: Callable[[], dict[int, str]] | None = None


def warehouse_codes_from(load: Callable[[], dict[int, str]]) -> None:
    """Registered by inventory (which owns warehouses): id → code of every warehouse."""
    global _warehouse_codes_load
    _warehouse_codes_load = load


def warehouse_code(warehouse_id) -> str:
    """The code of a warehouse, for a label: one query per process when a warehouse is
    first met (codes do not change once a warehouse works)."""
    if warehouse_id is None:
        return ""
    code = _warehouse_codes.get(warehouse_id)
    if code is None and _warehouse_codes_load is not None:
        _warehouse_codes.update(_warehouse_codes_load())
        code = _warehouse_codes.get(warehouse_id)
    return code or str(warehouse_id)


# --- business -----------------------------------------------------------------------


def order_accepted(*, warehouse) -> None:
    code = warehouse.code
    after_commit(lambda: ORDERS_ACCEPTED.labels(_instance(), code).inc())


def order_rejected(*, warehouse_id, stage: str, reason: str) -> None:
    after_commit(
        lambda: ORDERS_REJECTED.labels(
            _instance(), warehouse_code(warehouse_id), stage, reason
        ).inc()
    )


def order_planned(*, warehouse_id, accepted_at, outcome: str, reasons=None) -> None:
    """An order's first planning decision (PLANNED, BACKORDERED or REJECTED)."""

    def record():
        code = warehouse_code(warehouse_id)
        latency = max((timezone.now() - accepted_at).total_seconds(), 0.0)
        PLANNING_LATENCY.labels(_instance(), code, outcome).observe(latency)
        if outcome == "REJECTED":
            reason = reasons[0].get("code", "") if reasons else ""
            ORDERS_REJECTED.labels(_instance(), code, "planning", reason).inc()

    after_commit(record)


def pick_confirmed(*, result, source: str, started: float) -> None:
    """A pick confirmation's effect (not a replay): a line picked, the service's time."""
    if result.replayed:
        return
    warehouse_id, status = result.task.warehouse_id, str(result.task.status)

    def record():
        code = warehouse_code(warehouse_id)
        PICK_LINES.labels(_instance(), code, source, status).inc()
        PICK_CONFIRMATION_SECONDS.labels(_instance(), code, source).observe(
            time.perf_counter() - started
        )

    after_commit(record)


def sync_entries(*, entries, results) -> None:
    """A handheld's synced batch: one count per entry and outcome."""
    counted = [
        (e.warehouse_id, e.kind, "conflict" if r.conflict else r.status)
        for e, r in zip(entries, results, strict=True)
    ]

    def record():
        for warehouse_id, kind, outcome in counted:
            OFFLINE_SYNC_ENTRIES.labels(
                _instance(), warehouse_code(warehouse_id), kind, outcome
            ).inc()

    after_commit(record)


# --- backbone -----------------------------------------------------------------------


def outbox_published(*, events, sink: str, published_at) -> None:
    """Events just marked PUBLISHED (the relay's transaction): count and lag."""
    lags = [(published_at - e.occurred_at).total_seconds() for e in events]

    def record():
        OUTBOX_PUBLISHED.labels(_instance(), sink).inc(len(lags))
        histogram = OUTBOX_PUBLISH_LAG.labels(_instance())
        for lag in lags:
            histogram.observe(max(lag, 0.0))

    after_commit(record)


def dead_lettered(*, channel: str, target: str = "", count: int = 1) -> None:
    if count:
        after_commit(lambda: DEAD_LETTERS.labels(_instance(), channel, target).inc(count))


def webhook_attempted(*, target: str, outcome: str) -> None:
    """One delivery attempt recorded: ``delivered``, ``retrying`` or ``dead``."""

    def record():
        WEBHOOK_DELIVERIES.labels(_instance(), target, outcome).inc()
        if outcome == "dead":
            DEAD_LETTERS.labels(_instance(), "webhook", target).inc()

    after_commit(record)


#: The order intake route (``outbound.urls``): its refused requests count as rejected orders.
_INTAKE_URL_NAME = "replenishment-order-list"


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    return (getattr(match, "route", None) if match else None) or request.path


def _idempotent_request_counted(sender, *, request, outcome, status, body=None, **kwargs):
    """Receiver of ``idempotent_request_handled``: replays, and refused order intakes."""
    if outcome == "replayed":
        IDEMPOTENCY_REPLAYS.labels(_instance(), _route(request)).inc()
    elif outcome == "rejected" and 400 <= status < 500:
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == _INTAKE_URL_NAME:
            code = body.get("code", "") if isinstance(body, dict) else ""
            ORDERS_REJECTED.labels(_instance(), "", "intake", code or str(status)).inc()


idempotent_request_handled.connect(_idempotent_request_counted, dispatch_uid="wms.metrics")


# --- read at scrape time -------------------------------------------------------------

#: Both on the partial index ``outbox_pending_id_idx`` (pending rows only, by id):
#: an index-only count and the oldest pending row by id, whatever the published rows.
_OUTBOX_PENDING = "SELECT count(*) FROM wms_outboxevent WHERE status = 'PENDING'"
_OUTBOX_OLDEST = (
    "SELECT extract(epoch FROM now() - occurred_at) FROM wms_outboxevent "
    "WHERE status = 'PENDING' ORDER BY id LIMIT 1"
)


class BackboneCollector:
    """Outbox depth and lag (age of the oldest event not yet published) at scrape time."""

    NAMES = ("wms_outbox_pending", "wms_outbox_lag_seconds")

    def describe(self):
        for name in self.NAMES:
            yield GaugeMetricFamily(name, name)

    def collect(self):
        pending = GaugeMetricFamily(
            "wms_outbox_pending", "Outbox events not yet published.", labels=["instance_id"]
        )
        lag = GaugeMetricFamily(
            "wms_outbox_lag_seconds",
            "Age of the oldest outbox event not yet published (0 when none waits).",
            labels=["instance_id"],
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(_OUTBOX_PENDING)
                depth = cursor.fetchone()[0]
                cursor.execute(_OUTBOX_OLDEST)
                row = cursor.fetchone()
        except Exception:  # the scrape must not fail for a database hiccup
            return
        pending.add_metric([_instance()], depth)
        lag.add_metric([_instance()], float(row[0]) if row else 0.0)
        yield pending
        yield lag


_backbone = BackboneCollector()
REGISTRY.register(_backbone)


def scrape_registry() -> CollectorRegistry:
    """This process's registry, or (multiprocess mode) every process's figures plus
    the collectors read at scrape time."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(_backbone)
    for collector in _scrape_time_collectors:
        registry.register(collector)
    return registry


_scrape_time_collectors: list = []


def scrape_time_collector_add(collector) -> None:
    """Another app's collector (read at scrape time) served in multiprocess mode too."""
    _scrape_time_collectors.append(collector)


def metrics_view(request):
    """``/metrics``: django-prometheus's view, but multiprocess-aware with our collectors."""
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
