"""Prometheus gauges of the conditions alerts watch (issue 17), read at scrape time.

``ops/prometheus/alerts.yml`` holds alerting rules on these series, so an
operator with Alertmanager is told of the same conditions as the WMS's own
alerts (``integrations.alerts``). Registered in ``IntegrationsConfig.ready``
and served by django-prometheus at ``/metrics``. A scrape runs a handful of
grouped queries (the same selectors as the reports); if the database cannot
answer, the scrape still succeeds with ``wms_report_metrics_up 0``.
"""

from __future__ import annotations

import logging

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from counting import reports as counting_reports
from inbound import reports as inbound_reports
from inventory.models import Warehouse
from outbound import reports as outbound_reports
from tasking import reports as tasking_reports
from wms.models import Alert, AlertStatus

from .reports import delivery_health

logger = logging.getLogger(__name__)


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


class WmsConditionsCollector:
    """Exceptions, unplanned orders, outbox and webhook backlogs, count variances waiting
    for a decision, open alerts."""

    #: Every family collect() yields, for describe() (which registering calls, at app
    #: start, instead of collect(): no query before the apps are ready).
    NAMES = (
        "wms_report_metrics_up",
        "wms_exceptions_open",
        "wms_exception_oldest_age_seconds",
        "wms_orders_unplanned",
        "wms_orders_unplanned_oldest_age_seconds",
        "wms_delivery_waiting",
        "wms_delivery_dead",
        "wms_delivery_oldest_waiting_age_seconds",
        "wms_alerts_open",
        "wms_count_variances_undecided",
    )

    def describe(self):
        for name in self.NAMES:
            yield GaugeMetricFamily(name, name)

    def collect(self):
        up = _gauge("wms_report_metrics_up", "1 when the WMS condition metrics were read.", [])
        try:
            families = list(self._families())
        except Exception:  # the scrape must not fail: say so in a series instead
            logger.exception("wms condition metrics could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self):
        now = timezone.now()
        warehouses = dict(Warehouse.objects.values_list("pk", "code"))
        ids = list(warehouses)
        yield from self._exceptions(ids, now)
        yield from self._backlog(ids, warehouses, now)
        yield from self._deliveries()
        undecided = _gauge(
            "wms_count_variances_undecided",
            "Count lines whose variance waits for approval or was refused (blocked).",
            ["warehouse"],
        )
        per_warehouse = counting_reports.count_variances_undecided_per_warehouse(warehouse_ids=ids)
        for warehouse_id, n in per_warehouse.items():
            undecided.add_metric([warehouses[warehouse_id]], n)
        yield undecided
        alerts = _gauge("wms_alerts_open", "Open WMS alerts.", ["warehouse", "kind"])
        for code, kind, n in (
            Alert.objects.filter(status=AlertStatus.OPEN)
            .values_list("warehouse__code", "rule__kind")
            .annotate(n=Count("pk"))
            .order_by()
        ):
            alerts.add_metric([code, kind], n)
        yield alerts

    def _exceptions(self, ids, now):
        count = _gauge("wms_exceptions_open", "Open exceptions.", ["warehouse", "source", "type"])
        age = _gauge(
            "wms_exception_oldest_age_seconds",
            "Age of the oldest open exception.",
            ["warehouse", "source", "type"],
        )
        for source, rows in (
            ("picking", tasking_reports.exceptions_by_type(warehouse_ids=ids)),
            ("receiving", inbound_reports.receiving_exceptions_by_type(warehouse_ids=ids)),
        ):
            for warehouse, kind, n, oldest, *_buckets in rows:
                count.add_metric([warehouse, source, kind], n)
                age.add_metric([warehouse, source, kind], (now - oldest).total_seconds())
        yield count
        yield age

    def _backlog(self, ids, warehouses, now):
        count = _gauge("wms_orders_unplanned", "Orders accepted, not planned yet.", ["warehouse"])
        age = _gauge(
            "wms_orders_unplanned_oldest_age_seconds",
            "Age of the oldest order waiting for planning.",
            ["warehouse"],
        )
        for warehouse_id, (n, oldest) in outbound_reports.unplanned_backlog(
            warehouse_ids=ids
        ).items():
            count.add_metric([warehouses[warehouse_id]], n)
            age.add_metric([warehouses[warehouse_id]], (now - oldest).total_seconds())
        yield count
        yield age

    def _deliveries(self):
        waiting = _gauge(
            "wms_delivery_waiting", "Events or deliveries waiting.", ["channel", "target"]
        )
        dead = _gauge("wms_delivery_dead", "Dead letters.", ["channel", "target"])
        age = _gauge(
            "wms_delivery_oldest_waiting_age_seconds",
            "Age of the oldest waiting event or delivery (0 when none waits).",
            ["channel", "target"],
        )
        for row in delivery_health().rows:
            channel, target, pending, retrying, n_dead, _since, seconds = row[2:]
            labels = [channel, target]
            waiting.add_metric(labels, pending + (retrying if channel == "webhook" else 0))
            dead.add_metric(labels, n_dead)
            age.add_metric(labels, seconds or 0)
        yield waiting
        yield dead
        yield age


_registered = False


def register_collector() -> None:
    """Register once per process (``ready`` may run twice under some test runners)."""
    global _registered
    if _registered:
        return
    from prometheus_client import REGISTRY

    from wms.metrics import scrape_time_collector_add

    collector = WmsConditionsCollector()
    REGISTRY.register(collector)
    scrape_time_collector_add(collector)  # also served in multiprocess mode
    _registered = True
