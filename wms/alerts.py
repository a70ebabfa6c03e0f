"""Alerts: open once, stay open while the condition holds, close when it clears.

``alerts_reconcile`` is the one writer of ``Alert``: an evaluator
(``integrations.alerts``) says what it finds *now* for a rule (one
``Finding`` per subject) and this service opens alerts for new subjects,
closes those whose subject is no longer found and leaves the others alone.
Evaluating again while nothing changed writes nothing (not even a "last seen"
time: with 100,000 minimums that update was half of a steady run, bench/reports.py).

No duplicates, also when two beat runs overlap: the rule row is locked first
(``select_for_update``), so evaluations of one rule run one after the other;
the partial unique index ``alert_one_open_per_rule_subject`` is the last guard.

Side effects: an ``alert.raised`` / ``alert.cleared`` outbox event per alert in
the same transaction (webhooks and the event bus get them), and one e-mail per
rule and run to its recipients after the commit (so a rolled back run mails
nothing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import sql
from .models import Alert, AlertRule, AlertStatus
from .outbox import outbox_row, outbox_rows_insert

OUTBOX_BATCH = 1_000


@dataclass(frozen=True)
class Finding:
    """The condition holds for ``subject`` (stable key: ``item:SKU@LOC``, ``exception:…``)."""

    subject: str
    message: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Reconciled:
    raised: list[Alert]
    cleared: list[Alert]


@transaction.atomic
def alerts_reconcile(*, rule_id: int, findings: list[Finding]) -> Reconciled:
    """Bring the open alerts of ``rule_id`` in line with ``findings``."""
    rule = AlertRule.objects.select_for_update().select_related("warehouse").get(pk=rule_id)
    now = timezone.now()
    found = {f.subject: f for f in findings}
    open_subjects = dict(
        Alert.objects.filter(rule=rule, status=AlertStatus.OPEN).values_list("subject", "pk")
    )
    gone = [pk for subject, pk in open_subjects.items() if subject not in found]
    cleared = list(Alert.objects.filter(pk__in=gone))
    if gone:
        Alert.objects.filter(pk__in=gone).update(status=AlertStatus.CLOSED, closed_at=now)
        for alert in cleared:
            alert.status, alert.closed_at = AlertStatus.CLOSED, now
    raised = Alert.objects.bulk_create(
        [
            Alert(
                rule=rule,
                warehouse_id=rule.warehouse_id,
                subject=f.subject,
                message=f.message[:500],
                detail=f.detail,
                opened_at=now,
            )
            for subject, f in found.items()
            if subject not in open_subjects
        ],
        batch_size=OUTBOX_BATCH,
    )
    _emit(rule, raised, "alert.raised")
    _emit(rule, cleared, "alert.cleared")
    if (raised or cleared) and rule.recipient_list:
        raised_ids, cleared_ids = [a.pk for a in raised], [a.pk for a in cleared]
        transaction.on_commit(lambda: _mail(rule, raised_ids, cleared_ids))
    return Reconciled(raised=raised, cleared=cleared)


def alert_event_data(rule: AlertRule, alert: Alert) -> dict:
    return {
        "alertId": alert.pk,
        "warehouse": rule.warehouse.code,
        "rule": rule.name,
        "kind": rule.kind,
        "subject": alert.subject,
        "message": alert.message,
        "detail": alert.detail,
        "openedAt": alert.opened_at,
        "closedAt": alert.closed_at,
    }


def _emit(rule: AlertRule, alerts: list[Alert], event_type: str) -> None:
    rows = [
        outbox_row(
            event_type=event_type,
            aggregate_type="Alert",
            aggregate_id=alert.pk,
            data=alert_event_data(rule, alert),
        )
        for alert in alerts
    ]
    for start in range(0, len(rows), OUTBOX_BATCH):
        sql.execute([outbox_rows_insert(rows[start : start + OUTBOX_BATCH])])


def _mail(rule: AlertRule, raised_ids: list[int], cleared_ids: list[int]) -> None:
    """One message per rule and run: what was raised and what cleared (at most 50 of each
    listed; the dashboard and the admin show all)."""
    raised = list(Alert.objects.filter(pk__in=raised_ids[:50]).order_by("subject"))
    cleared = list(Alert.objects.filter(pk__in=cleared_ids[:50]).order_by("subject"))
    subject = _("[WMS %(warehouse)s] %(rule)s: %(raised)d raised, %(cleared)d cleared") % {
        "warehouse": rule.warehouse.code,
        "rule": rule.name,
        "raised": len(raised_ids),
        "cleared": len(cleared_ids),
    }
    lines = [_("Raised:")] + [f"  {a.message}" for a in raised]
    lines += [_("Cleared:")] + [f"  {a.message}" for a in cleared]
    send_mail(
        subject,
        "\n".join(lines),
        settings.DEFAULT_FROM_EMAIL,
        rule.recipient_list,
        fail_silently=False,
    )


def open_alerts(*, warehouse_ids, limit: int = 50) -> list[dict]:
    """The newest open alerts of these warehouses (dashboard)."""
    return list(
        Alert.objects.filter(warehouse_id__in=warehouse_ids, status=AlertStatus.OPEN)
        .order_by("-opened_at", "-id")
        .values("id", "rule__name", "rule__kind", "subject", "message", "opened_at")[:limit]
    )


def alert_age_minutes(opened_at: dt.datetime, now: dt.datetime) -> int:
    return int((now - opened_at).total_seconds() // 60)
