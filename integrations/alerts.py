"""Alert evaluation (issue 17): what each rule finds now, read through the apps'
``reports`` selectors, handed to ``wms.alerts.alerts_reconcile`` (which opens,
keeps and closes alerts and sends their events and e-mails).

Messages are in the instance's language (``WMS_LOCALE``, the worker's active
language) and times in its time zone: they are stored and mailed as written.

Run by Celery beat (``alerts_evaluate_task``, wms/celery.py) every minute. An
evaluator only reads; it returns one ``Finding`` per subject for which the
rule's condition holds at this moment.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from counting import reports as counting_reports
from inbound import reports as inbound_reports
from inventory import reports as inventory_reports
from outbound import reports as outbound_reports
from tasking import reports as tasking_reports
from wms.alerts import Finding, Reconciled, alerts_reconcile
from wms.models import AlertKind, AlertRule, OutboxEvent, OutboxStatus, StockMinimum

from .models import DeliveryStatus, WebhookDelivery

logger = logging.getLogger(__name__)


def _local(moment: dt.datetime, pattern: str = "%H:%M") -> str:
    return timezone.localtime(moment).strftime(pattern)


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def low_stock(rule: AlertRule, now: dt.datetime) -> list[Finding]:
    """Minimums (per item, or per item and location) that on hand in allocatable
    statuses is below."""
    minimums = list(
        StockMinimum.objects.filter(rule=rule).values_list(
            "item_id", "location_id", "min_qty", "item__sku", "location__code"
        )
    )
    per_item = inventory_reports.on_hand_per_item(
        warehouse_id=rule.warehouse_id,
        item_ids=[m[0] for m in minimums if m[1] is None],
    )
    per_location = inventory_reports.on_hand_per_item_location(
        pairs=[(m[0], m[1]) for m in minimums if m[1] is not None]
    )
    findings = []
    zero = Decimal("0")
    for item_id, location_id, minimum, sku, location in minimums:
        if location_id is None:
            on_hand = per_item.get(item_id, zero)
        else:
            on_hand = per_location.get((item_id, location_id), zero)
        if on_hand < minimum:
            where = location or "*"
            findings.append(
                Finding(
                    subject=f"stock:{sku}@{where}",
                    message=_("%(sku)s at %(where)s: %(qty)s on hand, minimum %(min)s")
                    % {"sku": sku, "where": where, "qty": _qty(on_hand), "min": _qty(minimum)},
                    detail={"sku": sku, "location": location, "onHand": on_hand, "min": minimum},
                )
            )
    return findings


def exception_age(rule: AlertRule, now: dt.datetime) -> list[Finding]:
    """Picking and receiving exceptions open longer than ``threshold`` minutes."""
    before = now - dt.timedelta(minutes=float(rule.threshold))
    cases = [
        ("picking", c)
        for c in tasking_reports.exceptions_older_than(
            warehouse_id=rule.warehouse_id, opened_before=before
        )
    ] + [
        ("receiving", c)
        for c in inbound_reports.receiving_exceptions_older_than(
            warehouse_id=rule.warehouse_id, opened_before=before
        )
    ]
    return [
        Finding(
            subject=f"exception:{source}:{case['id']}",
            message=_("%(source)s exception %(id)s (%(type)s) open for %(minutes)d min")
            % {
                "source": source,
                "id": case["id"],
                "type": case["type"],
                "minutes": (now - case["opened_at"]).total_seconds() // 60,
            },
            detail={"source": source, "id": case["id"], "type": case["type"]},
        )
        for source, case in cases
    ]


def unplanned_backlog(rule: AlertRule, now: dt.datetime) -> list[Finding]:
    """At least ``threshold`` orders accepted and not planned yet."""
    count, oldest = outbound_reports.unplanned_backlog(warehouse_ids=[rule.warehouse_id]).get(
        rule.warehouse_id, (0, None)
    )
    if count < max(rule.threshold, 1):
        return []
    return [
        Finding(
            subject="orders:unplanned",
            message=_("%(count)d orders wait for planning (oldest accepted %(when)s)")
            % {"count": count, "when": _local(oldest, "%Y-%m-%d %H:%M")},
            detail={"count": count, "oldestAcceptedAt": oldest},
        )
    ]


def outbox_lag(rule: AlertRule, now: dt.datetime) -> list[Finding]:
    """The outbox or a system's webhooks have waited more than ``threshold`` minutes."""
    before = now - dt.timedelta(minutes=float(rule.threshold))
    findings = []
    oldest = OutboxEvent.objects.filter(status=OutboxStatus.PENDING).aggregate(
        oldest=Min("occurred_at")
    )["oldest"]
    if oldest is not None and oldest < before:
        findings.append(
            Finding(
                "outbox:lag",
                _("Outbox events waiting since %(when)s") % {"when": _local(oldest)},
                {"since": oldest},
            )
        )
    waiting = (
        WebhookDelivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], created_at__lt=before
        )
        .values_list("system__code")
        .annotate(n=Count("pk"), oldest=Min("created_at"))
        .order_by()
    )
    findings += [
        Finding(
            f"webhook:lag:{system}",
            _("%(count)d webhook deliveries to %(system)s waiting since %(when)s")
            % {"count": n, "system": system, "when": _local(since)},
            {"system": system, "count": n, "since": since},
        )
        for system, n, since in waiting
    ]
    return findings


def dead_letters(rule: AlertRule, now: dt.datetime) -> list[Finding]:
    """At least ``threshold`` (1 when 0) dead outbox events or dead webhook deliveries."""
    least = max(int(rule.threshold), 1)
    findings = []
    dead = OutboxEvent.objects.filter(status=OutboxStatus.DEAD).count()
    if dead >= least:
        message = _("%(count)d outbox events dead") % {"count": dead}
        findings.append(Finding("outbox:dead", message, {"count": dead}))
    per_system = (
        WebhookDelivery.objects.filter(status=DeliveryStatus.DEAD)
        .values_list("system__code")
        .annotate(n=Count("pk"))
        .order_by()
    )
    findings += [
        Finding(
            f"webhook:dead:{system}",
            _("%(count)d dead deliveries to %(system)s") % {"count": n, "system": system},
            {"count": n},
        )
        for system, n in per_system
        if n >= least
    ]
    return findings


def planning_failed(rule: AlertRule, now: dt.datetime) -> list[Finding]:
    """Planning jobs failed within the last ``threshold`` minutes (60 when 0)."""
    since = now - dt.timedelta(minutes=float(rule.threshold or 60))
    jobs = outbound_reports.planning_jobs_failed(warehouse_id=rule.warehouse_id, since=since)
    return [
        Finding(
            f"planning:{job['id']}",
            _("Planning job %(id)s %(status)s: %(error)s")
            % {"id": job["id"], "status": job["status"], "error": job["last_error"][:200]},
            {"id": job["id"], "group": job["planning_group"]},
        )
        for job in jobs
    ]


def count_variance(rule: AlertRule, now: dt.datetime) -> list[Finding]:
    """Lines of closed counts whose variance is above ``threshold`` (base units for
    ``COUNT_VARIANCE_QTY``, value at unit cost for ``COUNT_VARIANCE_VALUE``) and still
    waits for a decision: its adjustment waits for the approver, or the balance refused
    it (line blocked). Clears once the adjustment is approved or rejected; a variance
    adjusted at once when the count closed is decided already and raises nothing (the
    count accuracy report lists it)."""
    by_value = rule.kind == AlertKind.COUNT_VARIANCE_VALUE
    findings = []
    for line in counting_reports.count_variances_undecided(warehouse_id=rule.warehouse_id):
        if abs(line["value"] if by_value else line["variance"]) <= rule.threshold:
            continue
        facts = {
            "count": line["count__count_number"],
            "location": line["location__code"],
            "sku": line["item__sku"],
            "variance": _qty(line["variance"]),
            "value": format(line["value"], "f"),
        }
        findings.append(
            Finding(
                subject=f"count-line:{line['id']}",
                message=_(
                    "Count %(count)s: %(sku)s at %(location)s off by %(variance)s "
                    "(value %(value)s), waiting for a decision"
                )
                % facts,
                detail={**facts, "lineId": line["id"], "state": line["state"]},
            )
        )
    return findings


EVALUATORS = {
    AlertKind.LOW_STOCK: low_stock,
    AlertKind.EXCEPTION_AGE: exception_age,
    AlertKind.UNPLANNED_BACKLOG: unplanned_backlog,
    AlertKind.OUTBOX_LAG: outbox_lag,
    AlertKind.DEAD_LETTERS: dead_letters,
    AlertKind.PLANNING_FAILED: planning_failed,
    AlertKind.COUNT_VARIANCE_QTY: count_variance,
    AlertKind.COUNT_VARIANCE_VALUE: count_variance,
}


def alert_rule_evaluate(*, rule_id: int) -> Reconciled:
    rule = AlertRule.objects.get(pk=rule_id)
    if not rule.is_active:
        return alerts_reconcile(rule_id=rule_id, findings=[])  # a switched-off rule clears
    findings = EVALUATORS[rule.kind](rule, timezone.now())
    return alerts_reconcile(rule_id=rule_id, findings=findings)


def alert_rules_evaluate() -> dict[int, Reconciled]:
    """Every rule once; one failing rule is logged and does not stop the others."""
    results = {}
    rules = (
        AlertRule.objects.filter(Q(is_active=True) | Q(alerts__status="OPEN"))
        .order_by("pk")
        .distinct()
    )
    for rule_id in rules.values_list("pk", flat=True):
        try:
            results[rule_id] = alert_rule_evaluate(rule_id=rule_id)
        except Exception:
            logger.exception("alert rule %s could not be evaluated", rule_id)
    return results
